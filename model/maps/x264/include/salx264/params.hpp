// libx264 encoder parameters built one way for every user: the GPL element
// saliencyx264enc (gst/x264) and the tool saliency-encode-eval (model/tools).
// Both must encode alike for the same settings (the tool measures what the
// element does), so the preset, rate control, "key=value:key=value" option
// string and the AQ rule for per-macroblock QP offsets live here once.
//
// A wrapper of libx264 only: no GStreamer, no LibTorch, no saliency maths (the
// map -> QP-offset mapping is salmaps/qp_map.hpp). Built as the static library
// salx264 where libx264 is found; whatever links it is GPL (STYLE.md §b).
#pragma once

#include <cstdarg>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

extern "C" {
#include <x264.h>
}

namespace salx264 {

/// Rate control: average bitrate, constant bitrate (ABR with a VBV buffer the
/// size of `vbv_buffer_ms` at the bitrate, and filler data), constant rate factor.
enum class RateControl { ABR, CBR, CRF };

/// What the user chooses: the encoding settings, independent of the input.
struct EncoderSettings {
  std::string preset = "medium";  ///< a name of x264_preset_names
  std::string tune;               ///< x264_tune_names, comma-separated; empty: none
  RateControl rc = RateControl::ABR;
  int bitrate_kbps = 2048;        ///< ABR and CBR
  double crf = 23;                ///< CRF
  int vbv_buffer_ms = 600;        ///< CBR
  int key_int_max = 0;            ///< 0: the preset's
  int threads = 0;                ///< 0: libx264 picks (X264_THREADS_AUTO)
  /// Further libx264 settings, "key=value:key=value" with x264_param_parse's
  /// names ("key" alone means key=1), applied after everything above.
  std::string option_string;
  /// Per-macroblock QP offsets (x264_picture_t.prop.quant_offsets) will be
  /// passed with the pictures: see enable_aq_for_offsets().
  bool qp_offsets = false;
};

/// What the input and the output container dictate. The option string cannot
/// change these: they are put back after it, since the caller feeds pictures
/// and reads the stream in exactly this format.
struct StreamFormat {
  int csp = X264_CSP_I420;
  int width = 0, height = 0;
  int fps_num = 25, fps_den = 1;     ///< pictures' PTS are frame numbers: timebase 1/fps
  int sar_width = 0, sar_height = 0; ///< 0: unspecified
  bool annexb = true;                ///< start codes (byte-stream), else 4-byte lengths
  bool repeat_headers = true;        ///< SPS/PPS before every keyframe
  bool full_recon = false;           ///< complete (deblocked) reconstruction in pic_out
  int log_level = X264_LOG_ERROR;    ///< the option string may change it ("log=...")
  /// libx264's messages; null keeps libx264's own (stderr).
  void (*log)(void *priv, int level, const char *format, va_list args) = nullptr;
  void *log_private = nullptr;
};

/// One "key=value" of an option string.
struct Option {
  std::string key, value;
  std::string written;  ///< the item as written ("no-psy", "aq-mode=2"), for messages
};

/// A pair of the option string that libx264 refuses. what() names the pair as
/// written: "unknown libx264 option 'KEY=VALUE'" or "bad value in 'KEY=VALUE'".
class OptionError : public std::invalid_argument {
 public:
  OptionError(const std::string &item, std::string key, std::string value, bool unknown_key);
  const std::string &key() const { return key_; }
  const std::string &value() const { return value_; }
  /// True when libx264 does not know the key, false when it refused the value.
  bool unknown_key() const { return unknown_key_; }

 private:
  std::string key_, value_;
  bool unknown_key_;
};

/// Splits "key=value:key=value" into pairs; empty items are skipped and a key
/// without '=' gets the value "1" (x264's convention for switches).
std::vector<Option> split_options(const std::string &text);

/// Applies the option string with x264_param_parse, in order. Throws
/// OptionError for the first pair libx264 refuses (earlier pairs stay applied).
void apply_options(x264_param_t &p, const std::string &text);

/// libx264 reads quant_offsets only with adaptive quantisation on (x264.h). When
/// the settings turned AQ off (aq-mode=0, tune=psnr), turns it on at strength 0:
/// libx264 then applies the offsets alone and adds no variance AQ of its own, so
/// the encode differs from the plain one only by the offsets. Returns whether it
/// changed anything.
bool enable_aq_for_offsets(x264_param_t &p);

/// Builds `p` from scratch: preset and tune, the stream format, the settings,
/// then the option string (which may override the settings but not the
/// format), then the AQ rule when `s.qp_offsets`. Returns whether the AQ rule
/// turned AQ on. Throws std::invalid_argument naming an unknown preset or tune,
/// OptionError for the option string.
bool build_params(x264_param_t &p, const EncoderSettings &s, const StreamFormat &f);

}  // namespace salx264
