// log.csv and curves.png of a training run (trainer.hpp).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <limits>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <sstream>

#include "salmodel/trainer.hpp"

namespace model::train {

namespace {

constexpr const char *kHeader =
    "epoch,step,train_loss,val_loss,cc,kl,nss,sim,auc_j,lr,seconds,skipped_batches";

std::string num(double v) {
  if (std::isnan(v)) return "nan";
  std::ostringstream s;
  s << std::setprecision(8) << v;
  return s.str();
}

double parse(const std::string &field) {
  if (field == "nan" || field.empty()) return std::numeric_limits<double>::quiet_NaN();
  return std::stod(field);
}

}  // namespace

void write_log(const std::vector<EpochRecord> &records, const std::string &path) {
  const auto tmp = path + ".tmp";
  {
    std::ofstream out(tmp);
    out << kHeader << "\n";
    for (const auto &r : records)
      out << r.epoch << "," << r.step << "," << num(r.train_loss) << "," << num(r.val_loss) << ","
          << num(r.cc) << "," << num(r.kl) << "," << num(r.nss) << "," << num(r.sim) << ","
          << num(r.auc_j) << "," << num(r.lr) << "," << num(r.seconds) << "," << r.skipped_batches
          << "\n";
    if (!out) throw TrainError(tmp + ": cannot write");
  }
  std::filesystem::rename(tmp, path);
}

std::vector<EpochRecord> read_log(const std::string &path) {
  std::vector<EpochRecord> records;
  std::ifstream in(path);
  if (!in) return records;
  std::string line;
  std::getline(in, line);
  if (line != kHeader) throw TrainError(path + ": not a saliency-train log (unexpected header)");
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    std::vector<std::string> f;
    std::stringstream ss(line);
    std::string field;
    while (std::getline(ss, field, ',')) f.push_back(field);
    if (f.size() != 12) throw TrainError(path + ": malformed line '" + line + "'");
    try {
      EpochRecord r;
      r.epoch = std::stoi(f[0]);
      r.step = std::stoll(f[1]);
      r.train_loss = parse(f[2]);
      r.val_loss = parse(f[3]);
      r.cc = parse(f[4]);
      r.kl = parse(f[5]);
      r.nss = parse(f[6]);
      r.sim = parse(f[7]);
      r.auc_j = parse(f[8]);
      r.lr = parse(f[9]);
      r.seconds = parse(f[10]);
      r.skipped_batches = std::stoi(f[11]);
      records.push_back(r);
    } catch (const std::exception &) {
      throw TrainError(path + ": malformed line '" + line + "'");
    }
  }
  return records;
}

namespace {

// One chart: series of (epoch, value) in a box with labelled axes and ticks.
struct Series {
  std::string name;
  cv::Scalar colour;
  std::vector<cv::Point2d> points;
};

std::string tick_label(double v) {
  std::ostringstream s;
  s << std::setprecision(3) << v;
  return s.str();
}

void draw_chart(cv::Mat &canvas, cv::Rect box, const std::string &title, const std::string &ylabel,
                const std::vector<Series> &series, int max_epoch) {
  const auto font = cv::FONT_HERSHEY_SIMPLEX;
  const cv::Scalar ink(30, 30, 30), grid(220, 220, 220);
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (const auto &s : series)
    for (const auto &p : s.points)
      if (std::isfinite(p.y)) lo = std::min(lo, p.y), hi = std::max(hi, p.y);
  if (!std::isfinite(lo)) lo = 0, hi = 1;
  if (hi - lo < 1e-9) lo -= 0.5, hi += 0.5;
  const double pad = 0.05 * (hi - lo);
  lo -= pad, hi += pad;
  const cv::Rect plot(box.x + 70, box.y + 30, box.width - 90, box.height - 75);
  const auto to_px = [&](double x, double y) {
    const double fx = max_epoch > 0 ? x / max_epoch : 0.5;
    return cv::Point(plot.x + int(std::lround(fx * plot.width)),
                     plot.y + plot.height - int(std::lround((y - lo) / (hi - lo) * plot.height)));
  };
  cv::putText(canvas, title, {box.x + 70, box.y + 20}, font, 0.55, ink, 1, cv::LINE_AA);
  for (int i = 0; i <= 4; i++) {  // y ticks and grid
    const double v = lo + (hi - lo) * i / 4.0;
    const auto p = to_px(0, v);
    cv::line(canvas, {plot.x, p.y}, {plot.x + plot.width, p.y}, grid, 1);
    cv::putText(canvas, tick_label(v), {box.x + 5, p.y + 4}, font, 0.4, ink, 1, cv::LINE_AA);
  }
  const int step = std::max(1, (max_epoch + 9) / 10);
  for (int e = 0; e <= max_epoch; e += step) {  // x ticks
    const auto p = to_px(e, lo);
    cv::line(canvas, {p.x, plot.y + plot.height}, {p.x, plot.y + plot.height + 4}, ink, 1);
    cv::putText(canvas, std::to_string(e), {p.x - 4, plot.y + plot.height + 18}, font, 0.4, ink, 1,
                cv::LINE_AA);
  }
  cv::rectangle(canvas, plot, ink, 1);
  cv::putText(canvas, "epoch", {plot.x + plot.width / 2 - 20, box.y + box.height - 12}, font, 0.45,
              ink, 1, cv::LINE_AA);
  (void)ylabel;  // the title names the quantity
  // Legend in the title row, right-aligned, so that it never hides data.
  int legend_x = plot.x + plot.width - 105 * int(series.size());
  for (const auto &s : series) {
    std::vector<cv::Point> px;
    for (const auto &p : s.points)
      if (std::isfinite(p.y)) px.push_back(to_px(p.x, p.y));
    if (px.size() > 1) cv::polylines(canvas, px, false, s.colour, 2, cv::LINE_AA);
    for (const auto &p : px) cv::circle(canvas, p, 3, s.colour, cv::FILLED, cv::LINE_AA);
    cv::line(canvas, {legend_x, box.y + 16}, {legend_x + 20, box.y + 16}, s.colour, 2);
    cv::putText(canvas, s.name, {legend_x + 25, box.y + 20}, font, 0.4, ink, 1, cv::LINE_AA);
    legend_x += 105;
  }
}

}  // namespace

void plot_curves(const std::vector<EpochRecord> &records, const std::string &path) {
  cv::Mat canvas(420, 960, CV_8UC3, cv::Scalar(255, 255, 255));
  Series train{"train loss", cv::Scalar(200, 90, 30), {}};
  Series val{"val loss", cv::Scalar(40, 40, 220), {}};
  Series cc{"val CC", cv::Scalar(40, 160, 40), {}};
  int max_epoch = 1;  // epochs are numbered from 1
  for (const auto &r : records) {
    train.points.emplace_back(r.epoch, r.train_loss);
    val.points.emplace_back(r.epoch, r.val_loss);
    cc.points.emplace_back(r.epoch, r.cc);
    max_epoch = std::max(max_epoch, r.epoch);
  }
  draw_chart(canvas, {0, 0, 480, 420}, "Loss", "loss", {train, val}, max_epoch);
  draw_chart(canvas, {480, 0, 480, 420}, "Validation CC", "CC", {cc}, max_epoch);
  const auto tmp = path + ".tmp.png";
  if (!cv::imwrite(tmp, canvas)) throw TrainError(path + ": cannot write the plot");
  std::filesystem::rename(tmp, path);
}

}  // namespace model::train
