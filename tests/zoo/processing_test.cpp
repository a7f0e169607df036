#include "nnjoule/zoo/processing.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "nnjoule/common/error.hpp"
#include "support/test_support.hpp"

namespace nnjoule::zoo {
namespace {

using nnjoule::testing::error_of;

TEST(Image, PpmAndPngRoundTrip) {
  const auto im = generate_image(37, 23, 7);
  const auto ppm = decode_image(encode_ppm(im), "gen.ppm");
  EXPECT_EQ(ppm.width, 37);
  EXPECT_EQ(ppm.height, 23);
  EXPECT_EQ(ppm.rgb, im.rgb);
  const auto png = decode_image(encode_png(im), "gen.png");
  EXPECT_EQ(png.rgb, im.rgb);
  EXPECT_NE(generate_image(37, 23, 8).rgb, im.rgb);
}

TEST(Image, PpmAsciiCommentsAndSixteenBit) {
  const auto a = decode_ppm("P3\n# a comment\n2 1\n# another\n15\n15 0 0  0 15 7\n", "a.ppm");
  ASSERT_EQ(a.rgb.size(), 6u);
  EXPECT_EQ(a.rgb[0], 255);
  EXPECT_EQ(a.rgb[4], 255);
  EXPECT_EQ(a.rgb[5], 119);  // 7/15 of 255, rounded
  std::string b = "P6 1 1 65535\n";
  b += std::string("\xff\xff\x80\x00\x00\x00", 6);
  const auto c = decode_ppm(b, "b.ppm");
  EXPECT_EQ(c.rgb[0], 255);
  EXPECT_EQ(c.rgb[1], 128);
  EXPECT_EQ(c.rgb[2], 0);
}

TEST(Image, PpmErrorsSayWhatIsWrong) {
  EXPECT_NE(
      error_of([] { decode_ppm("P5 1 1 255\n\x01", "x.ppm"); }).find("x.ppm: not a PPM image"),
      std::string::npos);
  EXPECT_NE(error_of([] {
              decode_ppm("P6 2 2 255\nabc", "x.ppm");
            }).find("x.ppm: PPM truncated: 2x2 needs 12 bytes of samples, found 3"),
            std::string::npos);
  EXPECT_NE(error_of([] { decode_ppm("P6 2", "x.ppm"); }).find("missing height"),
            std::string::npos);
  EXPECT_NE(
      error_of([] { decode_ppm("P6 2 x 255", "x.ppm"); }).find("PPM height: expected a decimal"),
      std::string::npos);
  EXPECT_NE(error_of([] { decode_ppm("P6 0 2 255\n", "x.ppm"); }).find("is empty"),
            std::string::npos);
  EXPECT_NE(error_of([] { decode_ppm("P6 1 1 70000\n", "x.ppm"); }).find("maxval 70000"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              decode_ppm("P3 1 1 10 1 2 11", "x.ppm");
            }).find("sample 2 is 11, above maxval 10"),
            std::string::npos);
  EXPECT_NE(error_of([] { decode_image("GIF89a", "x.gif"); }).find("x.gif: unknown image format"),
            std::string::npos);
  EXPECT_NE(error_of([] { decode_png("\x89PNG\r\n\x1a\nbroken", "x.png"); }).find("x.png:"),
            std::string::npos);
}

TEST(Image, ResizeAndNormalise) {
  Image im{2, 2, {0, 0, 0, 255, 255, 255, 0, 0, 0, 255, 255, 255}};
  const float mean[] = {0.5f, 0.5f, 0.5f}, sd[] = {0.5f, 0.5f, 0.5f};
  const auto t = image_to_tensor(im, 4, 4, mean, sd);
  ASSERT_EQ(t.size(), 48u);
  EXPECT_FLOAT_EQ(t[0], -1.f);   // left edge: black
  EXPECT_FLOAT_EQ(t[3], 1.f);    // right edge: white
  EXPECT_FLOAT_EQ(t[1], -0.5f);  // a quarter of the way: bilinear
  const auto same = image_to_tensor(im, 2, 2, mean, sd);
  EXPECT_FLOAT_EQ(same[1], 1.f);
  const auto back =
      tensor_to_image(std::vector<float>{0, 1, 2, -1, 0.5f, 0.5f, 0, 0, 0, 0, 0, 0}, 2, 2);
  EXPECT_EQ(back.rgb[0], 0);
  EXPECT_EQ(back.rgb[3], 255);
  EXPECT_EQ(back.rgb[6], 255);  // clamped
  EXPECT_EQ(back.rgb[4], 128);
}

TEST(Post, SoftmaxTopKOnKnownLogits) {
  const std::vector<float> logits = {1, 5, 3, 5, -2, 0};
  const auto top = softmax_top_k(logits, 3);
  ASSERT_EQ(top.size(), 3u);
  EXPECT_EQ(top[0].index, 1);  // tie with 3: lower index first
  EXPECT_EQ(top[1].index, 3);
  EXPECT_EQ(top[2].index, 2);
  double z = 0;
  for (float v : logits) z += std::exp(v - 5.0);
  EXPECT_NEAR(top[0].probability, 1.0 / z, 1e-6);
  EXPECT_NEAR(top[2].probability, std::exp(-2.0) / z, 1e-6);
  EXPECT_EQ(softmax_top_k(logits, 10).size(), 6u);
}

TEST(Post, NmsOnHandMadeBoxes) {
  const std::vector<Box> boxes = {
      {0, 0, 1, 1}, {0, 0.1f, 1, 1.1f}, {2, 2, 3, 3}, {0, 0, 0.5f, 0.5f}};
  const std::vector<float> scores = {0.9f, 0.95f, 0.5f, 0.8f};
  EXPECT_NEAR(iou(boxes[0], boxes[1]), 0.9f / 1.1f, 1e-6);
  EXPECT_NEAR(iou(boxes[0], boxes[3]), 0.25f, 1e-6);
  EXPECT_EQ(iou(boxes[0], boxes[2]), 0.f);
  const auto kept = non_max_suppression(boxes, scores, 0.5f, 10);
  ASSERT_EQ(kept, (std::vector<size_t>{1, 3, 2}));  // box 0 overlaps box 1 by 0.82
  EXPECT_EQ(non_max_suppression(boxes, scores, 0.5f, 2).size(), 2u);
  EXPECT_EQ(non_max_suppression(boxes, scores, 0.95f, 10).size(), 4u);
}

TEST(Post, SsdAnchorsAndDecoding) {
  const zoo::SsdLayout layout{{2, 1}, {3, 6}};
  const auto anchors = ssd_anchors(layout);
  ASSERT_EQ(anchors.size(), 2u * 2 * 3 + 6);
  EXPECT_FLOAT_EQ(anchors[0].cy, 0.25f);
  EXPECT_FLOAT_EQ(anchors[0].h, 0.1f);
  EXPECT_FLOAT_EQ(anchors[12].cx, 0.5f);
  EXPECT_THROW(ssd_anchors({{2}, {4}}), Error);
  EXPECT_EQ(ssd_anchors(zoo::ssd_layout("ssd-mobilenetv2-300")).size(), 1917u);

  // Zero encodings decode to the anchors themselves; class 2 scores high on anchors 0 and 1.
  const size_t n = anchors.size();
  const int64_t classes = 3;
  std::vector<float> enc(n * 4, 0.f), logits(n * classes, -10.f);
  logits[0 * classes + 2] = 3.f;  // anchor 0: centre (0.25, 0.25), 0.1 x 0.1
  logits[1 * classes + 2] = 2.f;  // anchor 1: same centre, wider: overlaps anchor 0 partly
  logits[9 * classes + 1] = 1.f;  // anchor 9: class 1
  const auto det = decode_ssd(enc, logits, anchors, classes, 0.5f, 0.5f, 10);
  ASSERT_EQ(det.size(), 3u);
  EXPECT_EQ(det[0].label, 2);
  EXPECT_NEAR(det[0].score, 1 / (1 + std::exp(-3.f)), 1e-6);
  EXPECT_NEAR(det[0].box.ymin, 0.2f, 1e-6);
  EXPECT_NEAR(det[0].box.xmax, 0.3f, 1e-6);
  EXPECT_EQ(det[2].label, 1);
  // A shift of the encoding moves the box by a tenth of the anchor size per unit.
  enc[0] = 10.f;
  const auto moved = decode_ssd(enc, logits, anchors, classes, 0.5f, 0.5f, 1);
  ASSERT_EQ(moved.size(), 1u);
  EXPECT_NEAR(moved[0].box.ymin, 0.3f, 1e-6);
  EXPECT_THROW(decode_ssd(std::vector<float>(4), logits, anchors, classes, 0.5f, 0.5f, 1), Error);
}

TEST(Post, ArgmaxMaskAndAnswerSpan) {
  // 3 classes, 1 x 2 image.
  const std::vector<float> logits = {0, 5, 1, 1, 2, 0};
  EXPECT_EQ(argmax_mask(logits, 3, 1, 2), (std::vector<uint8_t>{2, 0}));
  EXPECT_THROW(argmax_mask(logits, 2, 1, 2), Error);
  // Start logits peak at 2, end logits at 4 and at 1; an end before its start is never chosen.
  std::vector<float> qa(6 * 2, 0.f);
  qa[2 * 2] = 5;
  qa[4 * 2 + 1] = 3;
  qa[1 * 2 + 1] = 9;
  EXPECT_EQ(answer_span(qa, 6), (std::pair<int64_t, int64_t>{0, 1}));  // 0 + 9 beats 5 + 3
  qa[1 * 2 + 1] = 0;
  EXPECT_EQ(answer_span(qa, 6), (std::pair<int64_t, int64_t>{2, 4}));
}

TEST(Pre, TokensEmbeddingsAndSpectrogram) {
  const auto ids = tokenize("Who wrote it?", "Ada wrote it.", 30522, 12);
  ASSERT_EQ(ids.size(), 12u);
  EXPECT_EQ(ids[0], 101);
  EXPECT_EQ(ids[5], 102);     // who wrote it ? [SEP]
  EXPECT_EQ(ids[2], ids[7]);  // "wrote" twice, one id
  EXPECT_EQ(ids[11], 0);
  for (int64_t id : ids) EXPECT_LT(id, 30522);
  const auto cut = tokenize("a b c d e f g", "h i j k", 30522, 6);
  EXPECT_EQ(cut.back(), 102);
  const std::vector<float> table = {0, 0, 1, 1, 2, 2};
  EXPECT_EQ(embed(std::vector<int64_t>{2, 0}, table, 2), (std::vector<float>{2, 2, 0, 0}));
  EXPECT_THROW(embed(std::vector<int64_t>{3}, table, 2), Error);

  const auto pcm = generate_audio(16000, 3);
  const auto spec = spectrogram(pcm, 98, 40);
  ASSERT_EQ(spec.size(), 98u * 40);
  for (float v : spec) ASSERT_TRUE(std::isfinite(v));
  // The middle of the clip (envelope peak) carries more energy than its first frame.
  double first = 0, middle = 0;
  for (int b = 0; b < 40; ++b) first += spec[b], middle += spec[49 * 40 + b];
  EXPECT_GT(middle, first);
  EXPECT_THROW(spectrogram(std::vector<int16_t>(100), 98, 40), Error);
}

}  // namespace
}  // namespace nnjoule::zoo
