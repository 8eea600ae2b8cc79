// tools::cli::StagedDir and check_output_dir: an output folder holds exactly one
// run's files (DESIGN.md "Fixed interfaces"): a missing or empty folder is
// written, a non-empty one is refused before anything is written unless
// overwrite, which replaces it as a whole once the run commits.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "saltools/cli.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using tools::cli::StagedDir;

namespace {

using testsupport::listing;

void write(const std::string &path, const std::string &text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path) << text;
}

std::string read(const std::string &path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The message of the std::runtime_error `f` throws ("" when it throws nothing).
template <typename F>
std::string error_of(F f) {
  try {
    f();
  } catch (const std::runtime_error &e) {
    return e.what();
  }
  return "";
}

// An earlier run's output: two files and a sub-folder.
void earlier_run(const std::string &dir) {
  write(dir + "/0001.png", "old 1");
  write(dir + "/0002.png", "old 2");
  write(dir + "/vis/0001.png", "old vis");
}

}  // namespace

TEST(StagedDir, MissingFolderAppearsOnlyOnCommit) {
  testsupport::TempDir tmp;
  const std::string out = tmp / "out";
  StagedDir staged(out, false);
  write(staged.file("0001.png"), "new");
  EXPECT_FALSE(fs::exists(out));
  staged.commit();
  EXPECT_EQ(listing(out), std::vector<std::string>{"0001.png"});
  EXPECT_EQ(read(out + "/0001.png"), "new");
  EXPECT_EQ(listing(tmp.path()), std::vector<std::string>{"out"});  // no staging leftover
}

TEST(StagedDir, EmptyFolderIsWrittenAndParentsAreCreated) {
  testsupport::TempDir tmp;
  fs::create_directory(tmp / "empty");
  {
    StagedDir staged(tmp / "empty", false);
    write(staged.file("a.flo"), "new");
    staged.commit();
  }
  EXPECT_EQ(listing(tmp / "empty"), std::vector<std::string>{"a.flo"});
  {
    StagedDir staged(tmp / "deep/er/out/", false);  // trailing slash: the folder "out"
    write(staged.file("b.flo"), "new");
    staged.commit();
  }
  EXPECT_EQ(listing(tmp / "deep/er"), std::vector<std::string>{"out"});
  EXPECT_EQ(listing(tmp / "deep/er/out"), std::vector<std::string>{"b.flo"});
}

TEST(StagedDir, NonEmptyFolderIsRefusedAndNothingIsWritten) {
  testsupport::TempDir tmp;
  const std::string out = tmp / "out";
  earlier_run(out);
  EXPECT_EQ(error_of([&] { StagedDir staged(out, false); }),
            out + ": not empty (3 entries); pass --overwrite to replace it");
  EXPECT_EQ(error_of([&] { tools::cli::check_output_dir(out + "/vis", false); }),
            out + "/vis: not empty (1 entry); pass --overwrite to replace it");
  EXPECT_EQ(listing(tmp.path()), std::vector<std::string>{"out"});  // no staging folder made
  EXPECT_EQ(listing(out), (std::vector<std::string>{"0001.png", "0002.png", "vis"}));
  EXPECT_EQ(read(out + "/0001.png"), "old 1");
  // A hidden file counts: the folder is not empty.
  write(tmp / "hidden/.keep", "");
  EXPECT_NE(error_of([&] { StagedDir staged(tmp / "hidden", false); }), "");
}

TEST(StagedDir, AFileInThePlaceOfTheFolderIsRefusedEvenWithOverwrite) {
  testsupport::TempDir tmp;
  write(tmp / "file", "data");
  for (bool overwrite : {false, true})
    EXPECT_EQ(error_of([&] { StagedDir staged(tmp / "file", overwrite); }),
              (tmp / "file") + ": exists and is not a directory")
        << overwrite;
  EXPECT_EQ(read(tmp / "file"), "data");
  EXPECT_EQ(listing(tmp.path()), std::vector<std::string>{"file"});
}

TEST(StagedDir, OverwriteReplacesTheFolderAsAWholeOnCommit) {
  testsupport::TempDir tmp;
  const std::string out = tmp / "out";
  earlier_run(out);
  StagedDir staged(out, true);
  write(staged.file("0001.png"), "new 1");
  write(staged.file("vis/0009.png"), "new vis");
  // Until the commit the earlier output is untouched.
  EXPECT_EQ(listing(out), (std::vector<std::string>{"0001.png", "0002.png", "vis"}));
  EXPECT_EQ(read(out + "/0001.png"), "old 1");
  staged.commit();
  // Nothing of the earlier run is left, not even in the sub-folder (no merge).
  EXPECT_EQ(listing(out), (std::vector<std::string>{"0001.png", "vis"}));
  EXPECT_EQ(listing(out + "/vis"), std::vector<std::string>{"0009.png"});
  EXPECT_EQ(read(out + "/0001.png"), "new 1");
  EXPECT_EQ(listing(tmp.path()), std::vector<std::string>{"out"});  // no .partial- or .old- left
}

TEST(StagedDir, OverwriteOfAMissingOrEmptyFolderWorksToo) {
  testsupport::TempDir tmp;
  fs::create_directory(tmp / "empty");
  for (const char *name : {"missing", "empty"}) {
    StagedDir staged(tmp / name, true);
    write(staged.file("x"), name);
    staged.commit();
    EXPECT_EQ(read(tmp / (std::string(name) + "/x")), name);
  }
  EXPECT_EQ(listing(tmp.path()), (std::vector<std::string>{"empty", "missing"}));
}

TEST(StagedDir, ARunThatFailsBeforeCommitLeavesTheEarlierFolderIntact) {
  testsupport::TempDir tmp;
  const std::string out = tmp / "out";
  earlier_run(out);
  {  // destroyed without commit(), as when a run throws
    StagedDir staged(out, true);
    write(staged.file("0001.png"), "new 1");
    EXPECT_NE(listing(tmp.path()).size(), 1u);  // the staging folder exists meanwhile
  }
  EXPECT_EQ(listing(tmp.path()), std::vector<std::string>{"out"});
  EXPECT_EQ(listing(out), (std::vector<std::string>{"0001.png", "0002.png", "vis"}));
  EXPECT_EQ(read(out + "/0001.png"), "old 1");
}

// The second rename of the replacement fails (here: the staging folder has
// gone): the earlier folder is put back under its name.
TEST(StagedDir, AFailedReplacementPutsTheEarlierFolderBack) {
  testsupport::TempDir tmp;
  const std::string out = tmp / "out";
  earlier_run(out);
  StagedDir staged(out, true);
  fs::remove_all(staged.path());
  const std::string error = error_of([&] { staged.commit(); });
  EXPECT_EQ(error.rfind(out + ": cannot move results into place: ", 0), 0u) << error;
  EXPECT_EQ(listing(tmp.path()), std::vector<std::string>{"out"});
  EXPECT_EQ(listing(out), (std::vector<std::string>{"0001.png", "0002.png", "vis"}));
  EXPECT_EQ(read(out + "/vis/0001.png"), "old vis");
}

// Something written into an empty (or missing) folder between the check and
// the commit makes the commit fail instead of merging the two.
TEST(StagedDir, AFolderFilledMeanwhileIsNotMergedInto) {
  testsupport::TempDir tmp;
  const std::string out = tmp / "out";
  {
    StagedDir staged(out, false);
    write(staged.file("mine"), "mine");
    write(out + "/theirs", "theirs");
    const std::string error = error_of([&] { staged.commit(); });
    EXPECT_EQ(error.rfind(out + ": cannot move results into place: ", 0), 0u) << error;
  }
  EXPECT_EQ(listing(out), std::vector<std::string>{"theirs"});
  EXPECT_EQ(listing(tmp.path()), std::vector<std::string>{"out"});
}
