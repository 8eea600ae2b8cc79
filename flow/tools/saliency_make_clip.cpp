// saliency-make-clip: writes the project's own synthetic test clip (moving
// objects on a textured background), so the demo and pipelines need no download.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "saltools/synthetic_clip.hpp"

static void usage(FILE *out) {
  std::fprintf(out,
               "usage: saliency-make-clip --output FILE.avi [--frames N] [--width W] [--height H] [--seed S]\n"
               "Writes a deterministic Motion-JPEG AVI of moving objects on a textured background\n"
               "(default 96 frames, 384x224, 25 fps).\n");
}

int main(int argc, char **argv) {
  tools::SyntheticClipOptions o;
  std::string output;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&](const char *flag) -> const char * {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "saliency-make-clip: %s needs a value\n", flag);
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--help" || a == "-h") {
      usage(stdout);
      return 0;
    } else if (a == "--output") {
      output = value("--output");
    } else if (a == "--frames") {
      o.frames = std::atoi(value("--frames"));
    } else if (a == "--width") {
      o.width = std::atoi(value("--width"));
    } else if (a == "--height") {
      o.height = std::atoi(value("--height"));
    } else if (a == "--seed") {
      o.seed = std::strtoull(value("--seed"), nullptr, 10);
    } else {
      std::fprintf(stderr, "saliency-make-clip: unknown argument '%s'\n", argv[i]);
      usage(stderr);
      return 2;
    }
  }
  if (output.empty()) {
    usage(stderr);
    return 2;
  }
  try {
    tools::write_synthetic_clip(output, o);
  } catch (const std::exception &e) {
    std::fprintf(stderr, "saliency-make-clip: %s\n", e.what());
    return 1;
  }
  std::fprintf(stderr, "saliency-make-clip: wrote %s (%d frames, %dx%d)\n", output.c_str(), o.frames, o.width,
               o.height);
  return 0;
}
