// Pillow-compatible bilinear resize (model/include/salmodel/resample.hpp).
// Expected values are derived by hand from Pillow's algorithm (triangle
// filter, support scaled by the downscaling factor, 22-bit fixed point,
// rounding after each pass); see the comments at each case.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "salmodel/resample.hpp"

namespace {

using model::resize_bilinear_pil;

torch::Tensor row(std::vector<int64_t> values) {
  return torch::tensor(values, torch::kInt64).to(torch::kUInt8).view({1, -1});
}

TEST(PillowResize, SameSizeIsTheIdentity) {
  torch::manual_seed(1);
  const auto image = torch::randint(0, 256, {17, 23, 3}, torch::kUInt8);
  EXPECT_TRUE(torch::equal(resize_bilinear_pil(image, 17, 23), image));
}

TEST(PillowResize, HalvingUsesTheWideAntialiasedTriangle) {
  // 8 -> 4: scale 2, support 2, taps at x = 2i-1 .. 2i+2 with triangle weights
  // (0.25, 0.75, 0.75, 0.25) / 2 = (1/8, 3/8, 3/8, 1/8) inside; at i = 0 the
  // window is x = 0..2 with (0.75, 0.75, 0.25) / 1.75 = (3/7, 3/7, 1/7).
  // Fixed point: 3/8 -> 1572864, 1/8 -> 524288, 3/7 -> 1797559, 1/7 -> 599186.
  //   out0 = (0*1797559 + 0*1797559 + 255*599186 + 2^21) >> 22 = 36
  //   out1 = (0*524288 + 255*1572864 + 255*1572864 + 0*524288 + 2^21) >> 22 = 191
  //   out2 = (255*524288 + 0 + 0 + 0 + 2^21) >> 22 = 32
  //   out3: window x = 5..7, center 7, weights (0.25, 0.75, 0.75)/1.75 -> 0
  const auto out = resize_bilinear_pil(row({0, 0, 255, 255, 0, 0, 0, 0}), 1, 4);
  EXPECT_TRUE(torch::equal(out, row({36, 191, 32, 0}))) << out;
}

TEST(PillowResize, UpscalingInterpolatesWithClampedEdges) {
  // 2 -> 4: scale 0.5, support 1; centres 0.25, 0.75, 1.25, 1.75 give weights
  // (1), (0.75, 0.25), (0.25, 0.75), (1) on pixels (0), (0,1), (0,1), (1).
  const auto out = resize_bilinear_pil(row({0, 200}), 1, 4);
  EXPECT_TRUE(torch::equal(out, row({0, 50, 150, 200}))) << out;
}

TEST(PillowResize, VerticalPassMatchesTheHorizontalOne) {
  // The same 1-D filter applied to a column.
  const auto column = row({0, 0, 255, 255, 0, 0, 0, 0}).t().contiguous();
  const auto out = resize_bilinear_pil(column, 4, 1);
  EXPECT_TRUE(torch::equal(out, row({36, 191, 32, 0}).t())) << out;
}

TEST(PillowResize, EachPassRoundsToEightBits) {
  // 2x2 -> 1x1 on [[0, 1], [1, 0]]: each pass averages two pixels with weights
  // 1/2 (2^21 each). Horizontal: (1*2^21 + 2^21) >> 22 = 1 for both rows
  // (0.5 rounds up); vertical: (1*2^21 + 1*2^21 + 2^21) >> 22 = 1.
  const auto image = torch::tensor({0, 1, 1, 0}, torch::kInt64).to(torch::kUInt8).view({2, 2});
  EXPECT_EQ(resize_bilinear_pil(image, 1, 1).item<int>(), 1);
  // [[0, 1], [0, 0]]: rows -> (1, 0) after rounding, then (1 + 0) / 2 -> 1,
  // where one unrounded pass would give 0.25 -> 0.
  const auto corner = torch::tensor({0, 1, 0, 0}, torch::kInt64).to(torch::kUInt8).view({2, 2});
  EXPECT_EQ(resize_bilinear_pil(corner, 1, 1).item<int>(), 1);
}

TEST(PillowResize, ConstantImagesStayConstant) {
  const auto image = torch::full({37, 53, 3}, 173, torch::kUInt8);
  for (const auto &[h, w] : std::vector<std::pair<int64_t, int64_t>>{{224, 384}, {5, 7}, {37, 11}})
    EXPECT_TRUE(
        torch::equal(resize_bilinear_pil(image, h, w), torch::full({h, w, 3}, 173, torch::kUInt8)));
}

TEST(PillowResize, ChannelsAreIndependentAndViewsAreAccepted) {
  torch::manual_seed(2);
  const auto planar = torch::randint(0, 256, {3, 45, 70}, torch::kUInt8);
  const auto interleaved = planar.permute({1, 2, 0});  // a non-contiguous (H, W, C) view
  const auto out = resize_bilinear_pil(interleaved, 20, 33);
  ASSERT_EQ(out.sizes(), (std::vector<int64_t>{20, 33, 3}));
  EXPECT_TRUE(out.is_contiguous());
  for (int64_t c = 0; c < 3; c++)
    EXPECT_TRUE(torch::equal(out.select(2, c), resize_bilinear_pil(planar[c], 20, 33)));
}

TEST(PillowResize, RejectsWrongTypesAndSizes) {
  EXPECT_THROW(resize_bilinear_pil(torch::zeros({4, 4, 3}), 2, 2), c10::Error);
  EXPECT_THROW(resize_bilinear_pil(torch::zeros({4}, torch::kUInt8), 2, 2), c10::Error);
  EXPECT_THROW(resize_bilinear_pil(torch::zeros({4, 4}, torch::kUInt8), 0, 2), c10::Error);
}

}  // namespace
