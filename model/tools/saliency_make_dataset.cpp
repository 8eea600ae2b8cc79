// saliency-make-dataset: writes the project's synthetic saliency dataset
// (model/include/salmodel/synthetic_dataset.hpp) in the DHF1K/STRA-Net
// arrangement, for the "does it learn" checks of saliency-train.
#include <cstdio>
#include <exception>
#include <string>

#include "salmodel/synthetic_dataset.hpp"
#include "tool_common.hpp"

namespace {

const char *kProgram = "saliency-make-dataset";
const char *kUsage =
    "usage: saliency-make-dataset --out DIR [--train-videos 16] [--val-videos 4] [--frames 48]\n"
    "                             [--width 192] [--height 112] [--seed 1] [--flow] [--threads 0] "
    "[--overwrite] [--quiet]\n"
    "Writes a synthetic saliency dataset: textured backgrounds, static distractors, one or two\n"
    "moving objects and sometimes an appearing one; fixations around the moving/appearing object,\n"
    "maps = fixations blurred with a Gaussian, 0-255. Layout (read by saliency-train --layout "
    "dhf1k):\n"
    "  DIR/{train,val}/<video>/images/NNNN.png    frames\n"
    "  DIR/{train,val}/<video>/maps/NNNN.png      continuous maps (0-255 grey)\n"
    "  DIR/{train,val}/<video>/fixation/NNNN.png  binary fixations (0/255)\n"
    "  DIR/{train,val}/<video>/flow/NNNN.flo      with --flow: exact flow NNNN -> next\n"
    "Same options and seed give the same bytes. The dataset is written to a staging folder and\n"
    "moved into place when complete. DIR must not exist or be empty, else it is refused.\n"
    "  --overwrite   replace a non-empty DIR as a whole once the new dataset is complete\n"
    "  --threads N   videos written in parallel (0 = one per core)\n";

}  // namespace

int main(int argc, char **argv) {
  model::data::SyntheticDatasetOptions o;
  std::string out;
  bool quiet = false;
  tools::Args args(argc, argv, kProgram, kUsage);
  args.option("--out", &out);
  args.option("--train-videos", &o.train_videos);
  args.option("--val-videos", &o.val_videos);
  args.option("--frames", &o.frames);
  args.option("--width", &o.width);
  args.option("--height", &o.height);
  args.option("--seed", &o.seed);
  args.option("--threads", &o.threads);
  args.flag("--flow", &o.flow);
  args.flag("--overwrite", &o.overwrite);
  args.flag("--quiet", &quiet);
  args.parse();
  args.require("--out", out);
  if (o.train_videos < 0 || o.val_videos < 0 || o.train_videos + o.val_videos < 1)
    args.usage_error("--train-videos and --val-videos must be >= 0, with at least one video");
  if (o.frames < 2) args.usage_error("--frames must be >= 2");
  if (o.width < 32 || o.height < 32) args.usage_error("--width and --height must be >= 32");
  if (o.threads < 0) args.usage_error("--threads must be >= 0");

  const int total_frames = (o.train_videos + o.val_videos) * o.frames;
  tools::Progress progress(kProgram, total_frames, quiet);
  try {
    model::data::write_synthetic_dataset(out, o,
                                         [&](int done, int) { progress.update(done * o.frames); });
  } catch (const std::exception &e) {
    progress.finish(0);
    tools::fail(kProgram, e.what());
  }
  progress.finish(total_frames);
  if (!quiet)
    std::fprintf(stderr, "%s: wrote %s (%d train + %d val videos, %d frames of %dx%d%s)\n",
                 kProgram, out.c_str(), o.train_videos, o.val_videos, o.frames, o.width, o.height,
                 o.flow ? ", with flows" : "");
  return 0;
}
