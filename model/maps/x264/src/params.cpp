#include "salx264/params.hpp"

#include <cstdint>

namespace salx264 {

OptionError::OptionError(const std::string &item, std::string key, std::string value,
                         bool unknown_key)
    : std::invalid_argument((unknown_key ? "unknown libx264 option '" : "bad value in '") + item +
                            "'"),
      key_(std::move(key)),
      value_(std::move(value)),
      unknown_key_(unknown_key) {}

std::vector<Option> split_options(const std::string &text) {
  std::vector<Option> out;
  for (std::size_t begin = 0; begin < text.size();) {
    std::size_t end = text.find(':', begin);
    if (end == std::string::npos) end = text.size();
    const std::string item = text.substr(begin, end - begin);
    begin = end + 1;
    if (item.empty()) continue;
    const std::size_t eq = item.find('=');
    out.push_back({item.substr(0, eq), eq == std::string::npos ? "1" : item.substr(eq + 1), item});
  }
  return out;
}

void apply_options(x264_param_t &p, const std::string &text) {
  for (const Option &o : split_options(text)) {
    const int rc = x264_param_parse(&p, o.key.c_str(), o.value.c_str());
    if (rc != 0) throw OptionError(o.written, o.key, o.value, rc == X264_PARAM_BAD_NAME);
  }
}

bool enable_aq_for_offsets(x264_param_t &p) {
  if (p.rc.i_aq_mode != X264_AQ_NONE) return false;
  p.rc.i_aq_mode = X264_AQ_VARIANCE;
  p.rc.f_aq_strength = 0.0f;
  return true;
}

bool build_params(x264_param_t &p, const EncoderSettings &s, const StreamFormat &f) {
  const char *tune = s.tune.empty() ? nullptr : s.tune.c_str();
  if (x264_param_default_preset(&p, s.preset.c_str(), tune) < 0) {
    if (!tune || x264_param_default_preset(&p, s.preset.c_str(), nullptr) < 0)
      throw std::invalid_argument("unknown x264 preset '" + s.preset + "'");
    throw std::invalid_argument("unknown x264 tune '" + s.tune + "'");
  }
  if (f.log) {
    p.pf_log = f.log;
    p.p_log_private = f.log_private;
  }
  p.i_log_level = f.log_level;
  p.i_csp = f.csp;
  p.i_bitdepth = 8;
  p.i_width = f.width;
  p.i_height = f.height;
  p.i_fps_num = f.fps_num;
  p.i_fps_den = f.fps_den;
  p.b_vfr_input = 0;
  p.i_timebase_num = f.fps_den;
  p.i_timebase_den = f.fps_num;
  p.vui.i_sar_width = f.sar_width;
  p.vui.i_sar_height = f.sar_height;
  p.b_annexb = f.annexb ? 1 : 0;
  p.b_repeat_headers = f.repeat_headers ? 1 : 0;
  p.b_aud = 0;
  p.b_full_recon = f.full_recon ? 1 : 0;

  if (s.key_int_max > 0) p.i_keyint_max = s.key_int_max;
  p.i_threads = s.threads > 0 ? s.threads : X264_THREADS_AUTO;
  switch (s.rc) {
    case RateControl::ABR:
      p.rc.i_rc_method = X264_RC_ABR;
      p.rc.i_bitrate = s.bitrate_kbps;
      break;
    case RateControl::CBR:
      p.rc.i_rc_method = X264_RC_ABR;
      p.rc.i_bitrate = s.bitrate_kbps;
      p.rc.i_vbv_max_bitrate = s.bitrate_kbps;
      p.rc.i_vbv_buffer_size = int(std::int64_t(s.bitrate_kbps) * s.vbv_buffer_ms / 1000);
      if (p.rc.i_vbv_buffer_size < 1) p.rc.i_vbv_buffer_size = 1;
      p.rc.b_filler = 1;
      break;
    case RateControl::CRF:
      p.rc.i_rc_method = X264_RC_CRF;
      p.rc.f_rf_constant = float(s.crf);
      break;
  }

  // The option string last, so that it can override the settings above; the
  // format is put back after it, since the caller's pictures and stream are in it.
  const x264_param_t format = p;
  apply_options(p, s.option_string);
  p.i_csp = format.i_csp;
  p.i_bitdepth = format.i_bitdepth;
  p.i_width = format.i_width;
  p.i_height = format.i_height;
  p.i_fps_num = format.i_fps_num;
  p.i_fps_den = format.i_fps_den;
  p.b_vfr_input = format.b_vfr_input;
  p.i_timebase_num = format.i_timebase_num;
  p.i_timebase_den = format.i_timebase_den;
  p.b_annexb = format.b_annexb;
  p.b_repeat_headers = format.b_repeat_headers;
  p.b_full_recon = format.b_full_recon;
  p.pf_log = format.pf_log;
  p.p_log_private = format.p_log_private;

  // Only when offsets will be passed, so that a plain encode stays plain x264.
  return s.qp_offsets && enable_aq_for_offsets(p);
}

}  // namespace salx264
