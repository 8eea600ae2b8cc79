// saliency-train: trains STSANet (or STRA-Net) on a saliency dataset with the
// official recipe (model-spec A.10 / B.12); see model/README-training.md.
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>

#include "salmodel/dataset.hpp"
#include "salmodel/trainer.hpp"
#include "tool_common.hpp"

static const char *kUsage =
    "usage: saliency-train --model {tinyhd,stsanet,stranet} --data DIR\n"
    "                      --layout {dhf1k,ucf,hollywood,diem} --out DIR [options]\n"
    "\n"
    "Trains a saliency network and writes to DIR:\n"
    "  best.pth    weights with the lowest validation loss (read by torch.load,\n"
    "              saliency-predict --weights and the saliency element's weights property)\n"
    "  last.pth    the latest weights plus optimiser and loop state (for --resume)\n"
    "  log.csv     per epoch: step, train/val loss, CC, KL, NSS, SIM, AUC-J, lr, seconds\n"
    "  curves.png  loss and validation CC against the epoch\n"
    "A new run refuses a DIR that is not empty (--overwrite replaces it, --resume continues it).\n"
    "\n"
    "Data:\n"
    "  --data DIR           dataset root (model/README-datasets.md): DHF1K train/val folders\n"
    "                       or the official frames/annotation split, UCF/Hollywood\n"
    "                       training/testing, DIEM\n"
    "  --layout L           dhf1k (default), ucf, hollywood or diem\n"
    "  --max-train-clips N  at most N training clips per epoch (default: one per video)\n"
    "  --max-val-clips N    at most N validation clips\n"
    "Model (defaults are the official configuration):\n"
    "  --model M            tinyhd, stsanet or stranet\n"
    "  --width-divisor D    divide every channel width by D (small networks: 8, 16, 32)\n"
    "  --input-size HxW     STSANet input size, multiples of 32 (default 224x384)\n"
    "  --window N           STSANet frames per clip: 32 (default), 64, ...\n"
    "  --stage S            STRA-Net stage: feature (stage 1) or whole (stage 2, default)\n"
    "  --backbone FILE      initialise the backbone: S3D Kinetics .pth (STSANet),\n"
    "                       torchvision ResNet-50 .pth (STRA-Net)\n"
    "  --init FILE          start from these full weights (fine-tuning; STRA-Net stage 2\n"
    "                       from the stage-1 best.pth; TinyHD from d123s_rc4_rc1T.pth, whose\n"
    "                       variant the network then takes: add --freeze-bn; from scratch, not)\n"
    "Optimisation:\n"
    "  --epochs N           default: official (STSANet 80, STRA-Net 100; TinyHD 20)\n"
    "  --lr X               Adam learning rate (default: STSANet 1e-4, STRA-Net 1e-5, TinyHD 1e-4)\n"
    "  --schedule S         official (x0.1 at epoch 12 and every 9 after, best weights\n"
    "                       reloaded at each decay), constant, or step:<epochs>:<gamma>\n"
    "  --batch N            clips per step and process (default: STSANet 3, STRA-Net 1, TinyHD 4)\n"
    "  --reset-optimizer    re-create Adam at every epoch, as STSANet's train.py does\n"
    "  --freeze-bn          BatchNorm layers use and keep their running statistics\n"
    "                       (recommended for short runs from scratch)\n"
    "  --val-every N        validate every N epochs and after the last (default 1)\n"
    "  --auc                also compute AUC-Judd in validation (slow)\n"
    "  --seed N             initialisation and clip order (default 1)\n"
    "  --resume             continue from DIR/last.pth (same --seed, --batch, --world-size)\n"
    "  --overwrite          a new run into a non-empty DIR: remove the earlier run's files\n"
    "                       once the options, data and initial weights are checked\n"
    "  --save-every N       also write last.pth every N steps inside an epoch\n"
    "Execution:\n"
    "  --device D           cpu (default), cuda or cuda:N\n"
    "  --precision P        fp32 (default), fp16 or bf16 (CUDA autocast; fp16 loss scaling)\n"
    "  --threads N          CPU threads (default: one per core; 1 on a busy machine)\n"
    "  --loader-threads N   clip decoding threads (default 2; 0: on the main thread)\n"
    "  --quiet              no progress bar\n"
    "Data-parallel (one process per rank, the same flags on every rank):\n"
    "  --world-size N --rank R --dist-init tcp://HOST:PORT | file:///PATH\n"
    "                       each rank trains on its share of every batch of N x --batch\n"
    "                       clips; gradients are averaged; rank 0 validates and writes DIR\n";

namespace {

const char *kProgram = "saliency-train";

bool parse_size(const std::string &text, int *height, int *width) {
  const auto x = text.find('x');
  if (x == std::string::npos) return false;
  try {
    size_t a = 0, b = 0;
    *height = std::stoi(text.substr(0, x), &a);
    *width = std::stoi(text.substr(x + 1), &b);
    return a == x && b == text.size() - x - 1 && *height > 0 && *width > 0;
  } catch (const std::exception &) {
    return false;
  }
}

std::string fmt(double v, const char *f = "%.4f") {
  if (std::isnan(v)) return "-";
  char b[32];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

}  // namespace

int main(int argc, char **argv) {
  tools::Args args(argc, argv, kProgram, kUsage);
  std::string model_name, layout = "dhf1k", input_size, dist_init, stage = "whole";
  model::train::TrainOptions o;
  int threads = 0;
  std::uint64_t seed = 1;
  bool quiet = false;
  args.option("--model", &model_name);
  args.option("--data", &o.data);
  args.option("--layout", &layout);
  args.option("--out", &o.out);
  args.option("--width-divisor", &o.width_divisor);
  args.option("--input-size", &input_size);
  args.option("--window", &o.window);
  args.option("--stage", &stage);
  args.option("--backbone", &o.backbone);
  args.option("--init", &o.init);
  args.option("--epochs", &o.epochs);
  double lr = -1;  // not given: the model's official rate (TrainOptions::lr = 0)
  args.option("--lr", &lr);
  args.option("--schedule", &o.schedule);
  args.option("--batch", &o.batch);
  args.flag("--reset-optimizer", &o.reset_optimizer_each_epoch);
  args.flag("--freeze-bn", &o.freeze_bn);
  args.option("--val-every", &o.val_every);
  args.option("--max-train-clips", &o.max_train_clips);
  args.option("--max-val-clips", &o.max_val_clips);
  args.flag("--auc", &o.auc);
  args.option("--seed", &seed);
  args.flag("--resume", &o.resume);
  args.flag("--overwrite", &o.overwrite);
  args.option("--save-every", &o.save_every_steps);
  args.option("--device", &o.device);
  args.option("--precision", &o.precision);
  args.option("--threads", &threads);
  args.option("--loader-threads", &o.loader_threads);
  args.flag("--quiet", &quiet);
  args.option("--world-size", &o.world_size);
  args.option("--rank", &o.rank);
  args.option("--dist-init", &o.dist_init);
  args.parse();
  args.require("--model", model_name);
  args.require("--data", o.data);
  args.require("--out", o.out);
  o.seed = seed;
  if (o.resume && o.overwrite)
    args.usage_error(
        "--resume continues the run in --out, --overwrite replaces it: pass one of them");
  o.stage = stage;
  if (stage != "feature" && stage != "whole")
    args.usage_error("--stage must be feature or whole, got '" + stage + "'");
  if (!input_size.empty() && !parse_size(input_size, &o.height, &o.width))
    args.usage_error("--input-size must be HxW (e.g. 64x96), got '" + input_size + "'");
  if (o.epochs < 0 || o.batch < 0 || o.window < 0 || o.max_train_clips < 0 ||
      o.max_val_clips < 0 || o.loader_threads < 0 || o.save_every_steps < 0)
    args.usage_error(
        "--epochs, --batch, --window, --max-*-clips, --loader-threads and "
        "--save-every must not be negative");
  // --lr 0 would train nothing; it used to mean "the default" silently.
  if (lr != -1) {
    if (!(lr > 0 && std::isfinite(lr)))
      args.usage_error("--lr must be above 0 (leave it out for the model's official rate)");
    o.lr = lr;
  }

  try {
    o.model = model::parse_model_kind(model_name);
    o.layout = model::data::parse_layout(layout);
    tools::set_threads(threads);
    model::train::Trainer trainer(o);
    const bool writer = o.rank == 0;
    if (!quiet) std::fprintf(stderr, "%s: %s\n", kProgram, trainer.describe().c_str());
    if (trainer.next_epoch() >= trainer.epochs()) {
      std::fprintf(stderr, "%s: %s already holds all %d epochs (nothing to do)\n", kProgram,
                   o.out.c_str(), trainer.epochs());
      return 0;
    }
    std::unique_ptr<tools::Progress> bar;
    int bar_epoch = -1;
    auto bar_phase = model::train::TrainProgress::Phase::Train;
    const auto on_progress = [&](const model::train::TrainProgress &p) {
      if (quiet) return;
      if (!bar || p.epoch != bar_epoch || p.phase != bar_phase) {
        if (bar) bar->finish(0);
        const bool train = p.phase == model::train::TrainProgress::Phase::Train;
        bar = std::make_unique<tools::Progress>("", p.total, quiet, train ? "steps" : "clips");
        bar_epoch = p.epoch;
        bar_phase = p.phase;
      }
      const bool train = p.phase == model::train::TrainProgress::Phase::Train;
      bar->set_label("epoch " + std::to_string(p.epoch + 1) + "/" +
                     std::to_string(trainer.epochs()) + (train ? " train" : " validate") +
                     ", loss " + fmt(p.loss));
      bar->update(p.done);
    };
    const auto on_epoch = [&](const model::train::EpochRecord &r) {
      if (bar) bar->finish(0);
      bar.reset();
      if (!writer) return;
      std::printf(
          "epoch %d/%d: train loss %s, val loss %s, CC %s, KL %s, NSS %s, SIM %s%s, lr %g, %.1f "
          "s%s\n",
          r.epoch, trainer.epochs(), fmt(r.train_loss).c_str(), fmt(r.val_loss).c_str(),
          fmt(r.cc).c_str(), fmt(r.kl).c_str(), fmt(r.nss).c_str(), fmt(r.sim).c_str(),
          o.auc ? (", AUC-J " + fmt(r.auc_j)).c_str() : "", r.lr, r.seconds,
          r.skipped_batches
              ? (" (" + std::to_string(r.skipped_batches) + " batches skipped)").c_str()
              : "");
      std::fflush(stdout);
    };
    trainer.run(on_progress, on_epoch);
    if (writer && !quiet)
      std::fprintf(stderr, "%s: wrote %s/best.pth, last.pth, log.csv, curves.png\n", kProgram,
                   o.out.c_str());
  } catch (const std::exception &e) {
    std::string what = e.what();
    tools::fail(kProgram, what.substr(0, what.find('\n')));
  }
  return 0;
}
