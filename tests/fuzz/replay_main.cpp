// Replay driver for a fuzz target in ordinary (gcc, non-fuzzing) builds: runs
// the target's seed corpus, then a fixed set of deterministic mutations of it
// (bit flips, "interesting" integers over size fields, truncations, deletions,
// duplications, splices), then any files named on the command line. A crash
// kills the test (the input is saved first, see below); an exception the
// target does not catch, i.e. one of a type the parser does not promise, fails
// it with the input saved. Same inputs on every run: seconds, no flakiness.
//
//   fuzz-replay-<target>                      seeds + mutations (the meson test)
//   fuzz-replay-<target> --mutations 20000    more of them
//   fuzz-replay-<target> --write-seeds DIR    writes the seed corpus for libFuzzer
//   fuzz-replay-<target> FILE|DIR...          replays crash files / a corpus
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>
#include <typeinfo>
#include <vector>

#include "fuzz_target.hpp"

namespace {

using fuzz::Bytes;

// splitmix64: portable and deterministic (std:: distributions are not).
struct Rng {
  std::uint64_t state;
  std::uint64_t next() {
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  std::size_t below(std::size_t n) { return n == 0 ? 0 : static_cast<std::size_t>(next() % n); }
};

void mutate_once(Bytes &b, const std::vector<Bytes> &corpus, Rng &rng) {
  static const std::uint64_t kInteresting[] = {0,          1,          2,          0x7f,
                                               0x80,       0xff,       0x7fff,     0xffff,
                                               0x7fffffff, 0x80000000, 0xffffffff, 0xfffffffffull,
                                               ~0ull,      ~0ull >> 1, 1ull << 63};
  switch (rng.below(b.empty() ? 1 : 8)) {
    case 0: {  // splice: a prefix of this input, a suffix of another
      const Bytes &o = corpus[rng.below(corpus.size())];
      Bytes s(b.begin(), b.begin() + static_cast<std::ptrdiff_t>(rng.below(b.size() + 1)));
      s.insert(s.end(), o.begin() + static_cast<std::ptrdiff_t>(rng.below(o.size() + 1)), o.end());
      b.swap(s);
      break;
    }
    case 1:  // flip a few bits
      for (std::size_t k = 1 + rng.below(8); k > 0; k--) b[rng.below(b.size())] ^= 1u << rng.below(8);
      break;
    case 2:  // one byte to an edge value
      b[rng.below(b.size())] = static_cast<std::uint8_t>(kInteresting[rng.below(6)]);
      break;
    case 3: {  // a 2/4/8-byte little- or big-endian field to an edge value or the input size
      const std::size_t width = std::size_t{2} << rng.below(3);
      if (b.size() < width) break;
      const std::size_t at = rng.below(b.size() - width + 1);
      const std::size_t n = sizeof kInteresting / sizeof kInteresting[0];
      std::uint64_t v = rng.below(4) == 0 ? b.size() + rng.below(3) - 1 : kInteresting[rng.below(n)];
      const bool big = rng.below(2) == 1;
      for (std::size_t i = 0; i < width; i++)
        b[at + (big ? width - 1 - i : i)] = static_cast<std::uint8_t>(v >> (8 * i));
      break;
    }
    case 4:  // truncate
      b.resize(rng.below(b.size()));
      break;
    case 5: {  // delete a range
      const std::size_t at = rng.below(b.size());
      const std::size_t n = 1 + rng.below(std::min<std::size_t>(b.size() - at, 64));
      b.erase(b.begin() + static_cast<std::ptrdiff_t>(at),
              b.begin() + static_cast<std::ptrdiff_t>(at + n));
      break;
    }
    case 6: {  // duplicate a range in place
      const std::size_t at = rng.below(b.size());
      const std::size_t n = 1 + rng.below(std::min<std::size_t>(b.size() - at, 64));
      Bytes piece(b.begin() + static_cast<std::ptrdiff_t>(at),
                  b.begin() + static_cast<std::ptrdiff_t>(at + n));
      b.insert(b.begin() + static_cast<std::ptrdiff_t>(rng.below(b.size() + 1)), piece.begin(),
               piece.end());
      break;
    }
    default:  // random bytes over a short range
      for (std::size_t k = 1 + rng.below(16), at = rng.below(b.size()); k > 0 && at < b.size(); k--, at++)
        b[at] = static_cast<std::uint8_t>(rng.next());
      break;
  }
}

// The input being run, saved by the signal handler when the target crashes.
const Bytes *g_current = nullptr;
char g_crash_file[512];

void on_crash(int sig) {
  if (g_current) {
    const int fd = ::open(g_crash_file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      if (!g_current->empty()) (void)!::write(fd, g_current->data(), g_current->size());
      ::close(fd);
    }
    static const char msg[] = "fuzz-replay: crash; the input is saved as ";
    (void)!::write(2, msg, sizeof msg - 1);
    (void)!::write(2, g_crash_file, std::strlen(g_crash_file));
    (void)!::write(2, "\n", 1);
  }
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

std::string describe(const std::string &what, const Bytes &b) {
  return what + " (" + std::to_string(b.size()) + " bytes)";
}

// Runs one input; false (after saving it) when the target let an exception escape.
bool run_one(const Bytes &input, const std::string &what) {
  g_current = &input;
  try {
    LLVMFuzzerTestOneInput(input.data(), input.size());
  } catch (const std::exception &e) {
    const std::string file = std::string("fuzz-failure-") + fuzz::target_name() + ".bin";
    std::ofstream(file, std::ios::binary)
        .write(reinterpret_cast<const char *>(input.data()), static_cast<std::streamsize>(input.size()));
    std::fprintf(stderr, "fuzz-replay %s: %s: unexpected %s escaped the parser: %s\n  input saved as %s\n",
                 fuzz::target_name(), describe(what, input).c_str(), typeid(e).name(), e.what(),
                 file.c_str());
    g_current = nullptr;
    return false;
  } catch (...) {
    std::fprintf(stderr, "fuzz-replay %s: %s: a non-std exception escaped the parser\n",
                 fuzz::target_name(), describe(what, input).c_str());
    g_current = nullptr;
    return false;
  }
  g_current = nullptr;
  return true;
}

}  // namespace

int main(int argc, char **argv) {
  std::size_t mutations = 300;  // per seed
  std::string write_dir;
  std::vector<std::string> paths;
  for (int i = 1; i < argc; i++) {
    const std::string a = argv[i];
    if (a == "--mutations" && i + 1 < argc) {
      mutations = std::strtoull(argv[++i], nullptr, 10);
    } else if (a == "--write-seeds" && i + 1 < argc) {
      write_dir = argv[++i];
    } else if (a == "--help" || a == "-h") {
      std::printf("usage: %s [--mutations N] [--write-seeds DIR] [FILE|DIR...]\n", argv[0]);
      return 0;
    } else {
      paths.push_back(a);
    }
  }
  std::snprintf(g_crash_file, sizeof g_crash_file, "fuzz-crash-%s.bin", fuzz::target_name());
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) std::signal(sig, on_crash);

  const std::vector<Bytes> corpus = fuzz::seeds();
  if (!write_dir.empty()) {
    std::filesystem::create_directories(write_dir);
    for (std::size_t i = 0; i < corpus.size(); i++) {
      char name[64];
      std::snprintf(name, sizeof name, "/seed-%03zu", i);
      std::ofstream(write_dir + name, std::ios::binary)
          .write(reinterpret_cast<const char *>(corpus[i].data()),
                 static_cast<std::streamsize>(corpus[i].size()));
    }
    std::printf("%s: wrote %zu seeds to %s\n", fuzz::target_name(), corpus.size(), write_dir.c_str());
    return 0;
  }

  const auto t0 = std::chrono::steady_clock::now();
  std::size_t runs = 0;
  bool ok = true;
  if (!paths.empty()) {  // replay files or corpus folders only
    for (const auto &p : paths) {
      std::vector<std::string> files;
      if (std::filesystem::is_directory(p)) {
        for (const auto &e : std::filesystem::directory_iterator(p))
          if (e.is_regular_file()) files.push_back(e.path().string());
      } else {
        files.push_back(p);
      }
      for (const auto &f : files) ok = run_one(fuzz::read_file(f), f) && ok, runs++;
    }
  } else {
    if (corpus.empty()) {
      std::fprintf(stderr, "%s: the seed generator produced nothing\n", fuzz::target_name());
      return 1;
    }
    for (std::size_t s = 0; s < corpus.size(); s++) {
      ok = run_one(corpus[s], "seed " + std::to_string(s)) && ok;
      runs++;
      for (std::size_t m = 0; m < mutations; m++) {
        Rng rng{(s << 32) ^ m};
        Bytes b = corpus[s];
        for (std::size_t k = 1 + rng.below(3); k > 0; k--) mutate_once(b, corpus, rng);
        ok = run_one(b, "seed " + std::to_string(s) + " mutation " + std::to_string(m)) && ok;
        runs++;
      }
    }
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("%s: %zu inputs (%zu seeds), %s, %.1f s\n", fuzz::target_name(), runs, corpus.size(),
              ok ? "no crash, no unexpected exception" : "FAILURES above", secs);
  return ok ? 0 : 1;
}
