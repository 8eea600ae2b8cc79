// Unit tests for libsalx264 (salx264/params.hpp): the libx264 parameters that
// saliencyx264enc and saliency-encode-eval both build. Built only where libx264
// is found. The element's encodes are checked byte for byte in
// tests/gst/test_x264enc.cpp; these pin the builder's rules on their own.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#include "salx264/params.hpp"

namespace {

salx264::StreamFormat small_format() {
  salx264::StreamFormat f;
  f.width = 64;
  f.height = 48;
  f.fps_num = 30;
  f.fps_den = 1;
  return f;
}

x264_param_t built(const salx264::EncoderSettings &s, bool *aq_forced = nullptr) {
  x264_param_t p;
  const bool forced = salx264::build_params(p, s, small_format());
  if (aq_forced) *aq_forced = forced;
  return p;
}

TEST(X264Params, SplitOptionsSkipsEmptyItemsAndDefaultsSwitchesToOne) {
  const auto o = salx264::split_options("keyint=1::no-psy:aq-mode=2:");
  ASSERT_EQ(o.size(), 3u);
  EXPECT_EQ(o[0].key, "keyint");
  EXPECT_EQ(o[0].value, "1");
  EXPECT_EQ(o[1].key, "no-psy");
  EXPECT_EQ(o[1].value, "1");
  EXPECT_EQ(o[1].written, "no-psy");
  EXPECT_EQ(o[2].key, "aq-mode");
  EXPECT_EQ(o[2].value, "2");
  EXPECT_EQ(o[2].written, "aq-mode=2");
  EXPECT_TRUE(salx264::split_options("").empty());
  EXPECT_TRUE(salx264::split_options(":::").empty());
}

TEST(X264Params, UnknownOptionIsNamedAsWritten) {
  x264_param_t p;
  x264_param_default(&p);
  try {
    salx264::apply_options(p, "bframes=0:no-such-option=3:keyint=1");
    FAIL() << "an unknown option must throw";
  } catch (const salx264::OptionError &e) {
    EXPECT_TRUE(e.unknown_key());
    EXPECT_EQ(e.key(), "no-such-option");
    EXPECT_EQ(e.value(), "3");
    EXPECT_STREQ(e.what(), "unknown libx264 option 'no-such-option=3'");
  }
  // Pairs before the bad one are applied, the ones after it are not.
  EXPECT_EQ(p.i_bframe, 0);
  EXPECT_NE(p.i_keyint_max, 1);
}

TEST(X264Params, BadValueIsNamedWithItsKey) {
  x264_param_t p;
  x264_param_default(&p);
  try {
    salx264::apply_options(p, "aq-mode=banana");
    FAIL() << "a bad value must throw";
  } catch (const salx264::OptionError &e) {
    EXPECT_FALSE(e.unknown_key());
    EXPECT_EQ(e.key(), "aq-mode");
    EXPECT_EQ(e.value(), "banana");
    EXPECT_STREQ(e.what(), "bad value in 'aq-mode=banana'");
  }
  // A switch without '=' is named as written, not as "key=1".
  try {
    salx264::apply_options(p, "no-such-switch");
    FAIL() << "an unknown switch must throw";
  } catch (const salx264::OptionError &e) {
    EXPECT_STREQ(e.what(), "unknown libx264 option 'no-such-switch'");
  }
}

TEST(X264Params, SettingsLandInTheirFields) {
  salx264::EncoderSettings s;
  s.preset = "fast";
  s.bitrate_kbps = 700;
  s.key_int_max = 50;
  s.threads = 3;
  x264_param_t p = built(s);
  EXPECT_EQ(p.rc.i_rc_method, X264_RC_ABR);
  EXPECT_EQ(p.rc.i_bitrate, 700);
  EXPECT_EQ(p.rc.i_vbv_max_bitrate, 0) << "ABR has no VBV of its own";
  EXPECT_EQ(p.i_keyint_max, 50);
  EXPECT_EQ(p.i_threads, 3);
  EXPECT_EQ(p.i_width, 64);
  EXPECT_EQ(p.i_height, 48);
  EXPECT_EQ(p.i_timebase_num, 1);
  EXPECT_EQ(p.i_timebase_den, 30) << "PTS are frame numbers: timebase 1/fps";

  s.rc = salx264::RateControl::CBR;
  s.vbv_buffer_ms = 500;
  p = built(s);
  EXPECT_EQ(p.rc.i_rc_method, X264_RC_ABR);
  EXPECT_EQ(p.rc.i_vbv_max_bitrate, 700);
  EXPECT_EQ(p.rc.i_vbv_buffer_size, 350);  // 700 kbit/s for 0.5 s
  EXPECT_EQ(p.rc.b_filler, 1);

  s.rc = salx264::RateControl::CRF;
  s.crf = 31.5;
  p = built(s);
  EXPECT_EQ(p.rc.i_rc_method, X264_RC_CRF);
  EXPECT_FLOAT_EQ(p.rc.f_rf_constant, 31.5f);
}

TEST(X264Params, OptionStringOverridesSettingsButNotTheFormat) {
  salx264::EncoderSettings s;
  s.rc = salx264::RateControl::CRF;
  s.crf = 23;
  s.key_int_max = 50;
  s.option_string = "crf=35:keyint=7:fps=50:annexb=0:repeat-headers=0";
  const x264_param_t p = built(s);
  EXPECT_FLOAT_EQ(p.rc.f_rf_constant, 35.f);
  EXPECT_EQ(p.i_keyint_max, 7);
  EXPECT_EQ(p.i_fps_num, 30);
  EXPECT_EQ(p.i_fps_den, 1);
  EXPECT_EQ(p.b_annexb, 1);
  EXPECT_EQ(p.b_repeat_headers, 1);
  EXPECT_EQ(p.i_width, 64);
  EXPECT_EQ(p.i_height, 48);
}

TEST(X264Params, AqGoesOnAtStrengthZeroOnlyWhenOffsetsAreUsedWithAqOff) {
  for (const char *aq_off : {"aq-mode=0", "tune=psnr"}) {
    salx264::EncoderSettings s;
    if (std::string(aq_off) == "tune=psnr")
      s.tune = "psnr";
    else
      s.option_string = aq_off;
    bool forced = true;
    x264_param_t p = built(s, &forced);
    EXPECT_FALSE(forced) << aq_off;
    EXPECT_EQ(p.rc.i_aq_mode, X264_AQ_NONE) << aq_off << ": no offsets, plain x264";

    s.qp_offsets = true;
    p = built(s, &forced);
    EXPECT_TRUE(forced) << aq_off;
    EXPECT_EQ(p.rc.i_aq_mode, X264_AQ_VARIANCE) << aq_off;
    EXPECT_EQ(p.rc.f_aq_strength, 0.f) << aq_off << ": the offsets alone, no variance AQ";
  }
  // AQ already on: the user's mode and strength stay.
  salx264::EncoderSettings s;
  s.qp_offsets = true;
  s.option_string = "aq-mode=3:aq-strength=1.3";
  bool forced = true;
  const x264_param_t p = built(s, &forced);
  EXPECT_FALSE(forced);
  EXPECT_EQ(p.rc.i_aq_mode, X264_AQ_AUTOVARIANCE_BIASED);
  EXPECT_FLOAT_EQ(p.rc.f_aq_strength, 1.3f);
}

TEST(X264Params, UnknownPresetOrTuneIsNamed) {
  salx264::EncoderSettings s;
  s.preset = "warp";
  try {
    built(s);
    FAIL() << "an unknown preset must throw";
  } catch (const std::invalid_argument &e) {
    EXPECT_STREQ(e.what(), "unknown x264 preset 'warp'");
  }
  s.preset = "fast";
  s.tune = "cartoon";
  try {
    built(s);
    FAIL() << "an unknown tune must throw";
  } catch (const std::invalid_argument &e) {
    EXPECT_STREQ(e.what(), "unknown x264 tune 'cartoon'");
  }
  s.tune = "film";
  s.option_string = "no-such-option";
  EXPECT_THROW(built(s), salx264::OptionError);
}

// The built parameters open an encoder that takes QP offsets with AQ forced on.
TEST(X264Params, BuiltParametersEncodeWithOffsets) {
  salx264::EncoderSettings s;
  s.preset = "ultrafast";
  s.rc = salx264::RateControl::CRF;
  s.threads = 1;
  s.option_string = "aq-mode=0";
  s.qp_offsets = true;
  x264_param_t p = built(s);
  x264_t *enc = x264_encoder_open(&p);
  ASSERT_NE(enc, nullptr);
  std::vector<std::uint8_t> frame(64 * 48 * 3 / 2, 128);
  const int mbs = (64 / 16) * (48 / 16);
  x264_picture_t pic, out;
  x264_picture_init(&pic);
  pic.img.i_csp = X264_CSP_I420;
  pic.img.i_plane = 3;
  pic.img.plane[0] = frame.data();
  pic.img.plane[1] = frame.data() + 64 * 48;
  pic.img.plane[2] = frame.data() + 64 * 48 + 32 * 24;
  pic.img.i_stride[0] = 64;
  pic.img.i_stride[1] = pic.img.i_stride[2] = 32;
  auto *offsets = static_cast<float *>(std::malloc(mbs * sizeof(float)));
  for (int i = 0; i < mbs; ++i) offsets[i] = i % 2 ? 4.f : -4.f;
  pic.prop.quant_offsets = offsets;
  pic.prop.quant_offsets_free = std::free;
  x264_nal_t *nals = nullptr;
  int n_nals = 0, bytes = x264_encoder_encode(enc, &nals, &n_nals, &pic, &out);
  while (bytes >= 0 && x264_encoder_delayed_frames(enc) > 0) {
    const int more = x264_encoder_encode(enc, &nals, &n_nals, nullptr, &out);
    bytes = more < 0 ? more : bytes + more;
  }
  x264_encoder_close(enc);
  EXPECT_GT(bytes, 0);
}

}  // namespace
