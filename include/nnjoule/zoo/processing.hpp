#pragma once
// Pre- and post-processing stages of the suite's applications: image decoding (PPM, PNG),
// resizing and normalisation, audio frames, token ids; softmax top-k, SSD box decoding with
// non-maximum suppression, argmax masks, upscaled images, answer spans.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "nnjoule/zoo/suite_models.hpp"

namespace nnjoule::zoo {

// 8-bit RGB, rows top to bottom, pixels interleaved.
struct Image {
  int64_t width = 0, height = 0;
  std::vector<uint8_t> rgb;
};

// Binary (P6) and ASCII (P3) PPM with maxval up to 65535 (scaled to 8 bits). Errors name
// `source` and what is wrong (bad magic, truncated data, ...).
Image decode_ppm(std::string_view bytes, const std::string& source);
std::string encode_ppm(const Image& image);  // P6, maxval 255
// PNG through libpng (any colour type, converted to RGB8).
Image decode_png(std::string_view bytes, const std::string& source);
std::string encode_png(const Image& image);
// By magic number: PNG or PPM.
Image decode_image(std::string_view bytes, const std::string& source);
// A deterministic test picture: gradients, a few discs and noise from the seed.
Image generate_image(int64_t width, int64_t height, uint64_t seed);

// Bilinear resize (half-pixel centres) to width x height and (x / 255 - mean) / std per
// channel; returns NCHW [1, 3, height, width].
std::vector<float> image_to_tensor(const Image& image, int64_t width, int64_t height,
                                   std::span<const float> mean, std::span<const float> std);
// NCHW [1, 3, H, W] values in [0, 1] back to an 8-bit image (clamped, rounded).
Image tensor_to_image(std::span<const float> chw, int64_t width, int64_t height);

struct Scored {
  int64_t index = 0;
  float probability = 0;
};
// Softmax over the logits, then the k most probable classes (ties: lower index first).
std::vector<Scored> softmax_top_k(std::span<const float> logits, int64_t k);

struct Box {
  float ymin = 0, xmin = 0, ymax = 0, xmax = 0;  // normalised image coordinates
};
float iou(const Box& a, const Box& b);
// Greedy non-maximum suppression: indices of kept boxes, highest score first.
std::vector<size_t> non_max_suppression(const std::vector<Box>& boxes,
                                        const std::vector<float>& scores, float iou_threshold,
                                        size_t max_boxes);

// TF object detection's SSD anchors (multiple-grid generator: scales 0.2..0.95, aspect ratios
// 1, 2, 1/2, 3, 1/3; the first map 3 anchors at scale 0.1), as centre/size boxes.
struct Anchor {
  float cy, cx, h, w;
};
std::vector<Anchor> ssd_anchors(const zoo::SsdLayout& layout);

struct Detection {
  Box box;
  int64_t label = 0;  // class index, background (0) excluded
  float score = 0;
};
// Decodes [N,4] box encodings (dy, dx, dh, dw with TF's scale factors 10, 10, 5, 5) against
// the anchors, scores [N,C] through a sigmoid, then per-class NMS.
std::vector<Detection> decode_ssd(std::span<const float> encodings, std::span<const float> logits,
                                  const std::vector<Anchor>& anchors, int64_t classes,
                                  float score_threshold, float iou_threshold,
                                  int64_t max_detections);

// Per pixel, the class with the highest logit: [C, H, W] -> H*W labels.
std::vector<uint8_t> argmax_mask(std::span<const float> logits, int64_t classes, int64_t height,
                                 int64_t width);

// Speech: 16-bit PCM at 16 kHz in, [frames x bins] log power spectrogram out (30 ms Hann
// windows every 10 ms, power summed into `bins` equal bands up to 4 kHz).
std::vector<int16_t> generate_audio(int64_t samples, uint64_t seed);
std::vector<float> spectrogram(std::span<const int16_t> pcm, int64_t frames, int64_t bins);

// Question answering: lower-cased words hashed into the vocabulary (ids 1000 and above; 101
// [CLS], 102 [SEP], 0 padding), laid out as [CLS] question [SEP] context [SEP] and padded or
// cut to `length`.
std::vector<int64_t> tokenize(std::string_view question, std::string_view context, int64_t vocab,
                              int64_t length);
// Word-embedding lookup: ids -> [length, width] rows of `table` ([vocab, width]).
std::vector<float> embed(std::span<const int64_t> ids, std::span<const float> table, int64_t width);
// The best span (start <= end < start + max_len) from [length, 2] start/end logits.
std::pair<int64_t, int64_t> answer_span(std::span<const float> logits, int64_t length,
                                        int64_t max_len = 30);

}  // namespace nnjoule::zoo
