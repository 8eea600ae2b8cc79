// The training loop (trainer.hpp): epochs of planned clips, Adam on the
// model's official loss, validation with the benchmark metrics, checkpoints
// for inference (best.pth) and for resuming (last.pth).
#include "salmodel/trainer.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <map>
#include <opencv2/imgproc.hpp>

#include "grad_sync.hpp"
#include "saltools/cli.hpp"
#include "salmodel/autocast_scope.hpp"
#include "salmodel/checkpoint.hpp"
#include "salmodel/metrics.hpp"
#include "train_task.hpp"

namespace model::train {

namespace fs = std::filesystem;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
// Keys of last.pth besides the weights (ignored when loading for inference).
const std::string kOptimizerPrefix = "optimizer.";
const std::string kTrainerPrefix = "trainer.";

torch::Tensor scalar(double v) { return torch::tensor(v, torch::kFloat64); }
torch::Tensor scalar_i(std::int64_t v) { return torch::tensor(v, torch::kInt64); }

void set_batchnorm_eval(torch::nn::Module &module) {
  for (auto &m : module.modules(/*include_self=*/true)) {
    const auto name = m->name();
    if (name.find("BatchNorm") != std::string::npos) m->eval();
  }
}

}  // namespace

struct Trainer::Impl {
  TrainOptions o;
  std::unique_ptr<TrainTask> task;
  LrSchedule schedule;
  torch::Device device{torch::kCPU};
  bool autocast = false;
  torch::ScalarType autocast_dtype = torch::kFloat32;
  std::vector<data::VideoRecord> train_videos, val_videos;
  data::ClipSpec spec;

  // Training and validation read alike: the task prepares each sample in the
  // loader's workers, which stay a few batches ahead.
  data::ClipLoader make_loader(const std::vector<data::VideoRecord> &videos,
                               std::vector<data::ClipRef> plan) {
    data::LoaderOptions lo;
    lo.threads = o.loader_threads;
    lo.prefetch = std::max(4, 2 * o.batch);
    TrainTask *t = task.get();
    return data::ClipLoader(videos, spec, std::move(plan), [t](data::Sample &s) { t->prepare(s); },
                            lo);
  }
  std::unique_ptr<torch::optim::Adam> adam;
  std::unique_ptr<GradSync> sync;
  std::vector<torch::Tensor> params;  // trainable, in named_parameters order
  std::vector<std::string> param_names;

  // Loop state (saved in last.pth).
  int next_epoch = 0;
  std::int64_t step = 0;
  int step_in_epoch = 0;  // steps of next_epoch already done (mid-epoch save)
  double epoch_loss_sum = 0;
  int epoch_loss_count = 0, epoch_skipped = 0;
  double best_loss = std::numeric_limits<double>::infinity();
  double loss_scale = 65536.0;  // fp16 dynamic loss scaling
  int good_steps = 0;
  std::vector<EpochRecord> records;

  bool is_writer() const { return o.rank == 0; }
  std::string out(const std::string &name) const { return (fs::path(o.out) / name).string(); }

  explicit Impl(const TrainOptions &options) : o(options) {
    schedule = LrSchedule::parse(o.schedule);
    if (o.data.empty()) throw TrainError("--data is required");
    if (o.out.empty()) throw TrainError("--out is required");
    if (o.resume && o.overwrite)
      throw TrainError("--resume continues the run in " + o.out +
                       "; --overwrite would replace it: pass one of them");
    // A fresh run refuses a folder holding an earlier run's files before any
    // work (DESIGN.md: an output folder holds exactly one run's outputs);
    // --resume continues in that folder, so it is the one case that may not be
    // empty. Only rank 0 writes --out.
    if (!o.resume && is_writer()) {
      try {
        tools::cli::check_output_dir(o.out, o.overwrite);
      } catch (const std::runtime_error &e) {
        throw TrainError(e.what());
      }
    }
    if (o.world_size < 1 || o.rank < 0 || o.rank >= o.world_size)
      throw TrainError("--rank " + std::to_string(o.rank) + " must be in [0, --world-size " +
                       std::to_string(o.world_size) + ")");
    if (o.world_size > 1 && o.dist_init.empty())
      throw TrainError("--world-size > 1 needs --dist-init tcp://HOST:PORT or file:///PATH");
    if (o.val_every < 1) throw TrainError("--val-every must be >= 1");
    if (o.width_divisor < 1) throw TrainError("--width-divisor must be >= 1");
    try {
      device = torch::Device(o.device);
    } catch (const std::exception &) {
      throw TrainError("--device " + o.device + ": expected cpu, cuda or cuda:N");
    }
    if (device.is_cuda() && !torch::cuda::is_available())
      throw TrainError("--device " + o.device +
                       ": CUDA is not available (this LibTorch build or machine has no GPU)");
    if (o.precision == "fp16" || o.precision == "bf16") {
      if (!device.is_cuda())
        throw TrainError("--precision " + o.precision +
                         " needs --device cuda (mixed precision uses CUDA autocast; train in fp32 "
                         "on the CPU)");
      autocast = true;
      autocast_dtype = o.precision == "fp16" ? torch::kFloat16 : torch::kBFloat16;
    } else if (o.precision != "fp32") {
      throw TrainError("--precision " + o.precision + ": expected fp32, fp16 or bf16");
    }

    task = make_task(o);
    if (o.lr <= 0) o.lr = task->default_lr();
    if (o.epochs <= 0) o.epochs = task->default_epochs();
    if (o.batch <= 0) o.batch = task->default_batch();
    spec = task->clip_spec(o.layout);

    // Data (both splits checked before any training starts).
    data::IndexOptions index;
    index.root = o.data;
    index.layout = o.layout;
    index.require_flow = spec.flows > 0;
    index.split = data::Split::Train;
    train_videos = data::index_dataset(index);
    index.split = data::Split::Validation;
    val_videos = data::index_dataset(index);
    if (train_videos.empty()) throw TrainError(o.data + ": no training videos");
    if (val_videos.empty()) throw TrainError(o.data + ": no validation videos");

    // Initial weights: full checkpoint, else backbone, else the seeded defaults.
    if (!o.init.empty()) task->load_weights(strip_training_keys(read_checkpoint(o.init)), o.init);
    if (!o.backbone.empty()) task->load_backbone(o.backbone);

    auto &net = task->network();
    for (const auto &item : net.named_parameters())
      if (item.value().requires_grad()) {
        param_names.push_back(item.key());
        params.push_back(item.value());
      }
    if (is_writer()) {
      if (!o.resume && o.overwrite && fs::exists(o.out)) {
        // Replaced only now that the options, data and weights were accepted,
        // so a run that cannot start leaves the earlier one alone. Unlike the
        // other tools the new run cannot be staged and swapped in at the end:
        // last.pth must be in --out while training, for --resume.
        try {
          tools::cli::StagedDir fresh(o.out, /*overwrite=*/true);
          fresh.commit();  // an empty folder takes the old one's place
        } catch (const std::runtime_error &e) {
          throw TrainError(e.what());
        }
      }
      fs::create_directories(o.out);
    }
    if (o.world_size > 1) sync = std::make_unique<GradSync>(o.dist_init, o.world_size, o.rank);
    new_optimizer();
    if (o.resume) restore();
    net.to(device);
    // Adam's state follows the parameters (its moments were restored on the CPU).
    for (auto &[key, state] : adam->state()) {
      auto &s = static_cast<torch::optim::AdamParamState &>(*state);
      s.exp_avg(s.exp_avg().to(device));
      s.exp_avg_sq(s.exp_avg_sq().to(device));
    }
  }

  static StateDict strip_training_keys(StateDict state) {
    StateDict weights;
    for (auto &[k, v] : state)
      if (k.rfind(kOptimizerPrefix, 0) != 0 && k.rfind(kTrainerPrefix, 0) != 0)
        weights.emplace_back(k, v);
    return weights;
  }

  void new_optimizer() {
    adam = std::make_unique<torch::optim::Adam>(params, torch::optim::AdamOptions(o.lr));
  }

  void set_lr(double lr) {
    for (auto &group : adam->param_groups())
      static_cast<torch::optim::AdamOptions &>(group.options()).lr(lr);
  }

  // ------------------------------------------------------------ checkpoints

  StateDict training_state() {
    StateDict state = task->weights();
    for (size_t i = 0; i < params.size(); i++) {
      const auto it = adam->state().find(c10::guts::to_string(params[i].unsafeGetTensorImpl()));
      if (it == adam->state().end()) continue;
      const auto &s = static_cast<const torch::optim::AdamParamState &>(*it->second);
      const auto base = kOptimizerPrefix + param_names[i] + ".";
      state.emplace_back(base + "exp_avg", s.exp_avg().detach().to(torch::kCPU).clone());
      state.emplace_back(base + "exp_avg_sq", s.exp_avg_sq().detach().to(torch::kCPU).clone());
      state.emplace_back(base + "step", scalar_i(s.step()));
    }
    state.emplace_back(kTrainerPrefix + "next_epoch", scalar_i(next_epoch));
    state.emplace_back(kTrainerPrefix + "step", scalar_i(step));
    state.emplace_back(kTrainerPrefix + "step_in_epoch", scalar_i(step_in_epoch));
    state.emplace_back(kTrainerPrefix + "epoch_loss_sum", scalar(epoch_loss_sum));
    state.emplace_back(kTrainerPrefix + "epoch_loss_count", scalar_i(epoch_loss_count));
    state.emplace_back(kTrainerPrefix + "epoch_skipped", scalar_i(epoch_skipped));
    state.emplace_back(kTrainerPrefix + "best_loss", scalar(best_loss));
    state.emplace_back(kTrainerPrefix + "loss_scale", scalar(loss_scale));
    state.emplace_back(kTrainerPrefix + "good_steps", scalar_i(good_steps));
    state.emplace_back(kTrainerPrefix + "seed", scalar_i(static_cast<std::int64_t>(o.seed)));
    state.emplace_back(kTrainerPrefix + "world_size", scalar_i(o.world_size));
    state.emplace_back(kTrainerPrefix + "batch", scalar_i(o.batch));
    return state;
  }

  void save_last() {
    if (!is_writer()) return;
    write_checkpoint(out("last.pth"), training_state());
  }

  void restore() {
    const auto path = out("last.pth");
    if (!fs::exists(path))
      throw TrainError(path + ": --resume needs the last.pth of an earlier run in --out");
    const auto state = read_checkpoint(path);
    std::map<std::string, torch::Tensor> extra;
    for (const auto &[k, v] : state)
      if (k.rfind(kOptimizerPrefix, 0) == 0 || k.rfind(kTrainerPrefix, 0) == 0) extra[k] = v;
    const auto get = [&](const std::string &name) {
      const auto it = extra.find(kTrainerPrefix + name);
      if (it == extra.end())
        throw TrainError(path + ": no " + kTrainerPrefix + name +
                         " (not a last.pth written by saliency-train)");
      return it->second;
    };
    if (get("seed").item<std::int64_t>() != static_cast<std::int64_t>(o.seed) ||
        get("world_size").item<std::int64_t>() != o.world_size ||
        get("batch").item<std::int64_t>() != o.batch)
      throw TrainError(path +
                       ": saved with another --seed, --world-size or --batch; resume with the "
                       "same ones (they decide the clip order)");
    task->load_weights(strip_training_keys(state), path);
    next_epoch = int(get("next_epoch").item<std::int64_t>());
    step = get("step").item<std::int64_t>();
    step_in_epoch = int(get("step_in_epoch").item<std::int64_t>());
    epoch_loss_sum = get("epoch_loss_sum").item<double>();
    epoch_loss_count = int(get("epoch_loss_count").item<std::int64_t>());
    epoch_skipped = int(get("epoch_skipped").item<std::int64_t>());
    best_loss = get("best_loss").item<double>();
    loss_scale = get("loss_scale").item<double>();
    good_steps = int(get("good_steps").item<std::int64_t>());
    for (size_t i = 0; i < params.size(); i++) {
      const auto base = kOptimizerPrefix + param_names[i] + ".";
      const auto m = extra.find(base + "exp_avg");
      if (m == extra.end()) continue;  // no step taken on this parameter yet
      auto s = std::make_unique<torch::optim::AdamParamState>();
      s->exp_avg(m->second.clone());
      s->exp_avg_sq(extra.at(base + "exp_avg_sq").clone());
      s->step(extra.at(base + "step").item<std::int64_t>());
      adam->state()[c10::guts::to_string(params[i].unsafeGetTensorImpl())] = std::move(s);
    }
    records = read_log(out("log.csv"));
    records.erase(std::remove_if(records.begin(), records.end(),
                                 [&](const EpochRecord &r) { return r.epoch > next_epoch; }),
                  records.end());
  }

  void reload_best() {
    const auto path = out("best.pth");
    if (sync) sync->barrier();  // rank 0 has finished writing it
    if (!fs::exists(path)) return;
    task->load_weights(read_checkpoint(path), path);
    task->network().to(device);
  }

  // ------------------------------------------------------------- training

  void train_mode() {
    auto &net = task->network();
    net.train();
    if (o.freeze_bn) set_batchnorm_eval(net);
  }

  // Flat vector of every gradient (zeros where a parameter got none).
  torch::Tensor flat_grads() {
    std::vector<torch::Tensor> parts;
    for (auto &p : params)
      parts.push_back(p.grad().defined()
                          ? p.grad().detach().to(torch::kCPU, torch::kFloat32).reshape(-1)
                          : torch::zeros({p.numel()}, torch::kFloat32));
    return torch::cat(parts);
  }

  void set_grads(const torch::Tensor &flat) {
    int64_t offset = 0;
    for (auto &p : params) {
      const auto g = flat.narrow(0, offset, p.numel()).view(p.sizes());
      offset += p.numel();
      // A tensor of its own (not a view of `flat`: zero_grad detaches in place).
      if (p.grad().defined())
        p.mutable_grad().copy_(g);
      else
        p.mutable_grad() = g.to(p.device(), p.scalar_type()).clone();
    }
  }

  // Float buffers (BatchNorm running statistics), averaged over ranks so that
  // every rank holds the same model.
  void average_buffers() {
    std::vector<torch::Tensor> buffers;
    for (auto &b : task->network().buffers())
      if (b.is_floating_point()) buffers.push_back(b);
    if (buffers.empty()) return;
    std::vector<torch::Tensor> parts;
    for (auto &b : buffers)
      parts.push_back(b.detach().to(torch::kCPU, torch::kFloat32).reshape(-1));
    const auto mean = sync->all_reduce_sum(torch::cat(parts)) / double(o.world_size);
    torch::NoGradGuard no_grad;
    int64_t offset = 0;
    for (auto &b : buffers) {
      b.copy_(mean.narrow(0, offset, b.numel()).view(b.sizes()));
      offset += b.numel();
    }
  }

  EpochRecord train_epoch(int epoch, const ProgressFn &progress) {
    const auto start = std::chrono::steady_clock::now();
    if (step_in_epoch == 0) {  // a fresh epoch (not a mid-epoch resume)
      epoch_loss_sum = 0;
      epoch_loss_count = 0;
      epoch_skipped = 0;
      if (schedule.decays_at(epoch) && schedule.reload_best_on_decay()) {
        reload_best();  // train.py reloads the best weights at each decay
        new_optimizer();
      } else if (o.reset_optimizer_each_epoch && epoch > 0) {
        new_optimizer();
      }
    }
    const double lr = o.lr * schedule.factor(epoch);
    set_lr(lr);

    auto plan = data::plan_clips(train_videos, spec, data::Split::Train, o.seed, epoch);
    if (o.max_train_clips > 0 && plan.size() > size_t(o.max_train_clips))
      plan.resize(size_t(o.max_train_clips));
    // Step s covers plan[s*G, (s+1)*G) with G = batch * world size; rank r
    // takes [s*G + r*batch, s*G + (r+1)*batch) of it (clipped to the plan).
    const size_t global = size_t(o.batch) * size_t(o.world_size);
    const int steps = int((plan.size() + global - 1) / global);
    std::vector<data::ClipRef> mine;
    std::vector<std::pair<size_t, size_t>> shard;  // per step: my count, the step's total
    for (int s = 0; s < steps; s++) {
      const size_t begin = size_t(s) * global, end = std::min(plan.size(), begin + global);
      const size_t a = std::min(end, begin + size_t(o.rank) * o.batch);
      const size_t b = std::min(end, a + size_t(o.batch));
      if (s >= step_in_epoch) mine.insert(mine.end(), plan.begin() + a, plan.begin() + b);
      shard.emplace_back(b - a, end - begin);
    }
    auto loader = make_loader(train_videos, std::move(mine));

    train_mode();
    for (int s = step_in_epoch; s < steps; s++) {
      std::vector<data::Sample> batch;
      for (size_t i = 0; i < shard[size_t(s)].first; i++) batch.push_back(*loader.next());
      const double weight = double(batch.size()) / double(shard[size_t(s)].second);
      bool skip = !batch.empty() && task->skip(batch);
      if (sync) skip = sync->all_reduce_sum(torch::full({1}, skip ? 1.0f : 0.0f)).item<float>() > 0;
      double step_loss = kNaN;
      if (!skip) {
        adam->zero_grad();
        double local = 0;
        if (!batch.empty()) {
          torch::Tensor loss;
          {
            CudaAutocastScope autocast_scope(autocast, autocast_dtype);
            loss = task->loss(batch, device) * weight;
          }
          local = loss.item<double>();
          (autocast_dtype == torch::kFloat16 ? loss * loss_scale : loss).backward();
        }
        step_loss = local;
        if (sync) {
          auto flat = flat_grads();
          auto all = sync->all_reduce_sum(torch::cat({flat, torch::full({1}, float(local))}));
          step_loss = all[-1].item<double>();
          set_grads(all.narrow(0, 0, flat.numel()));
        }
        bool finite = std::isfinite(step_loss);
        if (autocast_dtype == torch::kFloat16) {
          // Dynamic loss scaling (LibTorch 1.13's C++ API has no GradScaler):
          // unscale, skip the step and halve the scale on inf/NaN gradients,
          // double it after 2000 good steps.
          for (auto &p : params)
            if (p.grad().defined()) {
              p.mutable_grad().div_(loss_scale);
              finite = finite && p.grad().isfinite().all().item<bool>();
            }
          if (!finite) {
            loss_scale /= 2;
            good_steps = 0;
          } else if (++good_steps >= 2000) {
            loss_scale *= 2;
            good_steps = 0;
          }
        }
        if (finite) {
          adam->step();
          step++;
          epoch_loss_sum += step_loss;
          epoch_loss_count++;
        } else {
          epoch_skipped++;
        }
        if (sync) average_buffers();
      } else {
        epoch_skipped++;
      }
      step_in_epoch = s + 1;
      if (progress) {
        TrainProgress p;
        p.phase = TrainProgress::Phase::Train;
        p.epoch = epoch;
        p.done = s + 1;
        p.total = steps;
        p.loss = epoch_loss_count ? epoch_loss_sum / epoch_loss_count : kNaN;
        progress(p);
      }
      if (o.save_every_steps > 0 && step % o.save_every_steps == 0 && !skip && s + 1 < steps)
        save_last();
    }

    EpochRecord r;
    r.epoch = epoch + 1;
    r.step = step;
    r.train_loss = epoch_loss_count ? epoch_loss_sum / epoch_loss_count : kNaN;
    r.lr = lr;
    r.skipped_batches = epoch_skipped;
    r.val_loss = r.cc = r.kl = r.nss = r.sim = r.auc_j = kNaN;
    const bool validate_now = (epoch + 1) % o.val_every == 0 || epoch + 1 == o.epochs;
    if (validate_now) {
      // Rank 0 validates; the others wait for its checkpoint at the barrier.
      if (is_writer()) {
        const auto v = validate(progress, epoch);
        r.val_loss = v.loss;
        r.cc = v.cc;
        r.kl = v.kl;
        r.nss = v.nss;
        r.sim = v.sim;
        r.auc_j = o.auc ? v.auc_j : kNaN;
      }
    }
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    next_epoch = epoch + 1;
    step_in_epoch = 0;
    if (is_writer()) {
      if (std::isfinite(r.val_loss) && r.val_loss < best_loss) {
        best_loss = r.val_loss;
        write_checkpoint(out("best.pth"), task->weights());
      } else if (!fs::exists(out("best.pth")) && epoch + 1 == o.epochs) {
        write_checkpoint(out("best.pth"), task->weights());  // never validated finitely
      }
      records.push_back(r);
      save_last();
      write_log(records, out("log.csv"));
      plot_curves(records, out("curves.png"));
    }
    if (sync) sync->barrier();
    return r;
  }

  ValidationResult validate(const ProgressFn &progress, int epoch) {
    auto &net = task->network();
    net.eval();
    auto plan = data::plan_clips(val_videos, spec, data::Split::Validation, o.seed, 0);
    if (o.max_val_clips > 0 && plan.size() > size_t(o.max_val_clips))
      plan.resize(size_t(o.max_val_clips));
    auto loader = make_loader(val_videos, plan);
    std::vector<metrics::Metric> which = {metrics::Metric::Cc, metrics::Metric::Kl,
                                          metrics::Metric::Nss, metrics::Metric::Sim};
    if (o.auc) which.push_back(metrics::Metric::AucJudd);
    std::vector<metrics::NanMean> means(which.size());
    metrics::NanMean loss_mean;
    int done = 0;
    std::uint64_t frame_index = 0;
    while (done < int(plan.size())) {
      std::vector<data::Sample> batch;
      while (int(batch.size()) < o.batch && done + int(batch.size()) < int(plan.size()))
        batch.push_back(*loader.next());
      Evaluation e;
      {
        CudaAutocastScope autocast_scope(autocast, autocast_dtype);
        e = task->evaluate(batch, device);
      }
      // One loss per clip, as train.py averages over its validation clips.
      for (size_t i = 0; i < batch.size(); i++) loss_mean.add(e.loss.item<double>());
      for (size_t i = 0; i < batch.size(); i++) {
        const auto &s = batch[i];
        for (size_t l = 0; l < e.maps[i].size(); l++) {
          const auto gt = s.maps[int64_t(l)].to(torch::kFloat32).contiguous();
          const auto fix = s.fixations[int64_t(l)].to(torch::kFloat32).contiguous();
          metrics::FrameTruth truth;
          truth.map =
              cv::Mat(int(gt.size(0)), int(gt.size(1)), CV_32F, gt.data_ptr<float>()).clone();
          truth.fixations =
              cv::Mat(int(fix.size(0)), int(fix.size(1)), CV_32F, fix.data_ptr<float>()).clone();
          // The official validation resizes the prediction with cv2.resize (A.9).
          cv::Mat pred;
          cv::resize(e.maps[i][l], pred, truth.map.size(), 0, 0, cv::INTER_LINEAR);
          metrics::FrameEvalInputs inputs;
          inputs.seed = metrics::derive_seed(o.seed, frame_index++);
          const auto scores = metrics::evaluate_frame(pred, truth, which, inputs);
          for (size_t m = 0; m < which.size(); m++) means[m].add(scores[m]);
        }
      }
      done += int(batch.size());
      if (progress) {
        TrainProgress p;
        p.phase = TrainProgress::Phase::Validate;
        p.epoch = epoch;
        p.done = done;
        p.total = int(plan.size());
        p.loss = loss_mean.mean();
        progress(p);
      }
    }
    train_mode();
    ValidationResult v;
    v.clips = done;
    v.loss = loss_mean.mean();
    v.cc = means[0].mean();
    v.kl = means[1].mean();
    v.nss = means[2].mean();
    v.sim = means[3].mean();
    v.auc_j = o.auc ? means[4].mean() : kNaN;
    return v;
  }
};

Trainer::Trainer(const TrainOptions &options) : impl_(std::make_unique<Impl>(options)) {}
Trainer::~Trainer() = default;

std::vector<EpochRecord> Trainer::run(const ProgressFn &progress, const EpochFn &on_epoch) {
  std::vector<EpochRecord> done;
  while (impl_->next_epoch < impl_->o.epochs) {
    auto r = impl_->train_epoch(impl_->next_epoch, progress);
    if (on_epoch) on_epoch(r);
    done.push_back(r);
  }
  return done;
}

ValidationResult Trainer::validate(const ProgressFn &progress) {
  return impl_->validate(progress, impl_->next_epoch);
}

int Trainer::next_epoch() const { return impl_->next_epoch; }
int Trainer::epochs() const { return impl_->o.epochs; }

std::int64_t Trainer::parameter_count() const {
  std::int64_t n = 0;
  for (const auto &p : impl_->params) n += p.numel();
  return n;
}

StateDict Trainer::weights() const { return impl_->task->weights(); }

std::string Trainer::describe() const {
  const auto &o = impl_->o;
  std::string d = impl_->task->describe() + ", " + std::to_string(parameter_count()) +
                  " parameters, batch " + std::to_string(o.batch);
  if (o.world_size > 1)
    d += " x " + std::to_string(o.world_size) + " ranks (this is rank " + std::to_string(o.rank) +
         ")";
  char lr[32];
  std::snprintf(lr, sizeof lr, "%g", o.lr);
  d += ", lr " + std::string(lr) + " (" + impl_->schedule.text() + "), " +
       std::to_string(impl_->train_videos.size()) + " training / " +
       std::to_string(impl_->val_videos.size()) + " validation videos";
  return d;
}

}  // namespace model::train
