#include "nnjoule/zoo/processing.hpp"

#include <png.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <numeric>

#include "nnjoule/common/error.hpp"
#include "nnjoule/common/rng.hpp"

namespace nnjoule::zoo {
namespace {

// Netpbm header tokens: whitespace and '#' comments separate them.
class PpmReader {
 public:
  PpmReader(std::string_view b, const std::string& src) : b_(b), src_(src) {}
  void skip_space() {
    while (pos_ < b_.size()) {
      if (b_[pos_] == '#') {
        while (pos_ < b_.size() && b_[pos_] != '\n') ++pos_;
      } else if (std::isspace(static_cast<unsigned char>(b_[pos_]))) {
        ++pos_;
      } else {
        break;
      }
    }
  }
  int64_t number(const char* what) {
    skip_space();
    if (pos_ >= b_.size()) fail("{}: PPM truncated: missing {}", src_, what);
    if (!std::isdigit(static_cast<unsigned char>(b_[pos_]))) {
      fail("{}: PPM {}: expected a decimal number at byte {}", src_, what, pos_);
    }
    int64_t v = 0;
    while (pos_ < b_.size() && std::isdigit(static_cast<unsigned char>(b_[pos_]))) {
      v = v * 10 + (b_[pos_++] - '0');
      if (v > (int64_t{1} << 31)) fail("{}: PPM {} is too large", src_, what);
    }
    return v;
  }
  size_t pos_ = 0;
  std::string_view b_;
  const std::string& src_;
};

float bilinear_sample(const Image& im, int c, float y, float x) {
  y = std::clamp(y, 0.f, static_cast<float>(im.height - 1));
  x = std::clamp(x, 0.f, static_cast<float>(im.width - 1));
  const auto y0 = static_cast<int64_t>(y), x0 = static_cast<int64_t>(x);
  const int64_t y1 = std::min(y0 + 1, im.height - 1), x1 = std::min(x0 + 1, im.width - 1);
  const float fy = y - static_cast<float>(y0), fx = x - static_cast<float>(x0);
  auto px = [&](int64_t yy, int64_t xx) {
    return static_cast<float>(im.rgb[static_cast<size_t>((yy * im.width + xx) * 3 + c)]);
  };
  return (px(y0, x0) * (1 - fx) + px(y0, x1) * fx) * (1 - fy) +
         (px(y1, x0) * (1 - fx) + px(y1, x1) * fx) * fy;
}

}  // namespace

Image decode_ppm(std::string_view bytes, const std::string& source) {
  if (bytes.size() < 2 || bytes[0] != 'P' || (bytes[1] != '6' && bytes[1] != '3')) {
    fail("{}: not a PPM image (expected magic P6 or P3)", source);
  }
  const bool binary = bytes[1] == '6';
  PpmReader r(bytes, source);
  r.pos_ = 2;
  Image im;
  im.width = r.number("width");
  im.height = r.number("height");
  const int64_t maxval = r.number("maxval");
  if (im.width < 1 || im.height < 1)
    fail("{}: PPM size {}x{} is empty", source, im.width, im.height);
  if (maxval < 1 || maxval > 65535) fail("{}: PPM maxval {} outside 1..65535", source, maxval);
  if (im.width * im.height > (int64_t{1} << 28)) {
    fail("{}: PPM size {}x{} is too large", source, im.width, im.height);
  }
  const size_t n = static_cast<size_t>(im.width * im.height * 3);
  im.rgb.resize(n);
  auto scale = [&](int64_t v, size_t i) {
    if (v > maxval) fail("{}: PPM sample {} is {}, above maxval {}", source, i, v, maxval);
    return static_cast<uint8_t>((v * 255 + maxval / 2) / maxval);
  };
  if (binary) {
    // Exactly one whitespace byte separates the header from the samples.
    if (r.pos_ >= bytes.size() || !std::isspace(static_cast<unsigned char>(bytes[r.pos_]))) {
      fail("{}: PPM header must end with one whitespace byte", source);
    }
    ++r.pos_;
    const size_t bps = maxval > 255 ? 2 : 1;
    const size_t need = n * bps, have = bytes.size() - r.pos_;
    if (have < need) {
      fail("{}: PPM truncated: {}x{} needs {} bytes of samples, found {}", source, im.width,
           im.height, need, have);
    }
    const auto* p = reinterpret_cast<const uint8_t*>(bytes.data() + r.pos_);
    for (size_t i = 0; i < n; ++i) {
      const int64_t v = bps == 2 ? (p[2 * i] << 8) | p[2 * i + 1] : p[i];
      im.rgb[i] = scale(v, i);
    }
  } else {
    for (size_t i = 0; i < n; ++i) im.rgb[i] = scale(r.number("sample"), i);
  }
  return im;
}

std::string encode_ppm(const Image& im) {
  std::string out = "P6\n" + std::to_string(im.width) + " " + std::to_string(im.height) + "\n255\n";
  out.append(reinterpret_cast<const char*>(im.rgb.data()), im.rgb.size());
  return out;
}

Image decode_png(std::string_view bytes, const std::string& source) {
  png_image png;
  std::memset(&png, 0, sizeof png);
  png.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_memory(&png, bytes.data(), bytes.size())) {
    fail("{}: not a readable PNG ({})", source, png.message);
  }
  png.format = PNG_FORMAT_RGB;
  Image im;
  im.width = png.width;
  im.height = png.height;
  im.rgb.resize(PNG_IMAGE_SIZE(png));
  if (!png_image_finish_read(&png, nullptr, im.rgb.data(), 0, nullptr)) {
    const std::string msg = png.message;
    png_image_free(&png);
    fail("{}: PNG decoding failed ({})", source, msg);
  }
  return im;
}

std::string encode_png(const Image& im) {
  png_image png;
  std::memset(&png, 0, sizeof png);
  png.version = PNG_IMAGE_VERSION;
  png.width = static_cast<png_uint_32>(im.width);
  png.height = static_cast<png_uint_32>(im.height);
  png.format = PNG_FORMAT_RGB;
  png_alloc_size_t size = 0;
  if (!png_image_write_to_memory(&png, nullptr, &size, 0, im.rgb.data(), 0, nullptr)) {
    fail("PNG encoding failed ({})", png.message);
  }
  std::string out(size, '\0');
  if (!png_image_write_to_memory(&png, out.data(), &size, 0, im.rgb.data(), 0, nullptr)) {
    fail("PNG encoding failed ({})", png.message);
  }
  out.resize(size);
  return out;
}

Image decode_image(std::string_view bytes, const std::string& source) {
  if (bytes.size() >= 8 && std::memcmp(bytes.data(), "\x89PNG\r\n\x1a\n", 8) == 0) {
    return decode_png(bytes, source);
  }
  if (bytes.size() >= 2 && bytes[0] == 'P') return decode_ppm(bytes, source);
  fail("{}: unknown image format (expected PNG or PPM)", source);
}

Image generate_image(int64_t width, int64_t height, uint64_t seed) {
  Rng rng(seed);
  Image im{width, height, std::vector<uint8_t>(static_cast<size_t>(width * height * 3))};
  struct Disc {
    double cy, cx, r;
    uint8_t col[3];
  };
  std::vector<Disc> discs(5);
  for (auto& d : discs) {
    d.cy = rng.uniform(0, static_cast<double>(height));
    d.cx = rng.uniform(0, static_cast<double>(width));
    d.r = rng.uniform(0.05, 0.25) * static_cast<double>(std::min(width, height));
    for (auto& c : d.col) c = static_cast<uint8_t>(rng.uniform_int(0, 255));
  }
  for (int64_t y = 0; y < height; ++y) {
    for (int64_t x = 0; x < width; ++x) {
      uint8_t* p = &im.rgb[static_cast<size_t>((y * width + x) * 3)];
      p[0] = static_cast<uint8_t>(255 * x / std::max<int64_t>(width - 1, 1));
      p[1] = static_cast<uint8_t>(255 * y / std::max<int64_t>(height - 1, 1));
      p[2] = 128;
      for (const auto& d : discs) {
        const double dy = static_cast<double>(y) - d.cy, dx = static_cast<double>(x) - d.cx;
        if (dy * dy + dx * dx < d.r * d.r) std::copy(d.col, d.col + 3, p);
      }
      for (int c = 0; c < 3; ++c) {
        p[c] = static_cast<uint8_t>(std::clamp<int64_t>(p[c] + rng.uniform_int(-8, 8), 0, 255));
      }
    }
  }
  return im;
}

std::vector<float> image_to_tensor(const Image& im, int64_t width, int64_t height,
                                   std::span<const float> mean, std::span<const float> std) {
  if (mean.size() != 3 || std.size() != 3) fail("normalisation needs 3 means and 3 deviations");
  if (im.width < 1 || im.height < 1) fail("cannot resize an empty image");
  std::vector<float> out(static_cast<size_t>(3 * width * height));
  const float sy = static_cast<float>(im.height) / static_cast<float>(height);
  const float sx = static_cast<float>(im.width) / static_cast<float>(width);
  for (int c = 0; c < 3; ++c) {
    const float m = mean[static_cast<size_t>(c)], s = std[static_cast<size_t>(c)];
    float* dst = out.data() + c * width * height;
    for (int64_t y = 0; y < height; ++y) {
      const float fy = (static_cast<float>(y) + 0.5f) * sy - 0.5f;
      for (int64_t x = 0; x < width; ++x) {
        const float fx = (static_cast<float>(x) + 0.5f) * sx - 0.5f;
        dst[y * width + x] = (bilinear_sample(im, c, fy, fx) / 255.f - m) / s;
      }
    }
  }
  return out;
}

Image tensor_to_image(std::span<const float> chw, int64_t width, int64_t height) {
  const size_t plane = static_cast<size_t>(width * height);
  if (chw.size() != plane * 3)
    fail("image tensor has {} values, expected {}", chw.size(), plane * 3);
  Image im{width, height, std::vector<uint8_t>(plane * 3)};
  for (size_t i = 0; i < plane; ++i)
    for (size_t c = 0; c < 3; ++c) {
      const float v = std::clamp(chw[c * plane + i], 0.f, 1.f);
      im.rgb[i * 3 + c] = static_cast<uint8_t>(std::lround(v * 255.f));
    }
  return im;
}

std::vector<Scored> softmax_top_k(std::span<const float> logits, int64_t k) {
  if (logits.empty()) fail("softmax over an empty tensor");
  const float mx = *std::max_element(logits.begin(), logits.end());
  double sum = 0;
  for (float v : logits) sum += std::exp(static_cast<double>(v - mx));
  std::vector<size_t> idx(logits.size());
  std::iota(idx.begin(), idx.end(), 0);
  const size_t kk = std::min(static_cast<size_t>(std::max<int64_t>(k, 0)), idx.size());
  std::partial_sort(idx.begin(), idx.begin() + static_cast<long>(kk), idx.end(),
                    [&](size_t a, size_t b) {
                      return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
                    });
  std::vector<Scored> out;
  for (size_t i = 0; i < kk; ++i) {
    out.push_back({static_cast<int64_t>(idx[i]),
                   static_cast<float>(std::exp(static_cast<double>(logits[idx[i]] - mx)) / sum)});
  }
  return out;
}

float iou(const Box& a, const Box& b) {
  const float ih = std::max(0.f, std::min(a.ymax, b.ymax) - std::max(a.ymin, b.ymin));
  const float iw = std::max(0.f, std::min(a.xmax, b.xmax) - std::max(a.xmin, b.xmin));
  const float inter = ih * iw;
  const float area_a = std::max(0.f, a.ymax - a.ymin) * std::max(0.f, a.xmax - a.xmin);
  const float area_b = std::max(0.f, b.ymax - b.ymin) * std::max(0.f, b.xmax - b.xmin);
  const float uni = area_a + area_b - inter;
  return uni > 0 ? inter / uni : 0.f;
}

std::vector<size_t> non_max_suppression(const std::vector<Box>& boxes,
                                        const std::vector<float>& scores, float iou_threshold,
                                        size_t max_boxes) {
  if (boxes.size() != scores.size())
    fail("NMS: {} boxes but {} scores", boxes.size(), scores.size());
  std::vector<size_t> order(boxes.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return scores[a] > scores[b]; });
  std::vector<size_t> kept;
  for (size_t i : order) {
    if (kept.size() >= max_boxes) break;
    bool suppressed = false;
    for (size_t k : kept) {
      if (iou(boxes[i], boxes[k]) > iou_threshold) {
        suppressed = true;
        break;
      }
    }
    if (!suppressed) kept.push_back(i);
  }
  return kept;
}

std::vector<Anchor> ssd_anchors(const zoo::SsdLayout& layout) {
  const size_t n = layout.feature_maps.size();
  if (n == 0 || layout.anchors_per_location.size() != n)
    fail("SSD layout: maps and anchors differ");
  const double min_scale = 0.2, max_scale = 0.95;
  std::vector<double> scales;
  for (size_t i = 0; i < n; ++i) {
    scales.push_back(n == 1 ? min_scale
                            : min_scale + (max_scale - min_scale) * static_cast<double>(i) /
                                              static_cast<double>(n - 1));
  }
  scales.push_back(1.0);
  std::vector<Anchor> out;
  for (size_t l = 0; l < n; ++l) {
    std::vector<std::pair<double, double>> shapes;  // (scale, aspect ratio)
    if (l == 0) {
      shapes = {{0.1, 1.0}, {scales[0], 2.0}, {scales[0], 0.5}};
    } else {
      for (double ar : {1.0, 2.0, 0.5, 3.0, 1.0 / 3.0}) shapes.push_back({scales[l], ar});
      shapes.push_back({std::sqrt(scales[l] * scales[l + 1]), 1.0});
    }
    if (static_cast<int64_t>(shapes.size()) != layout.anchors_per_location[l]) {
      fail("SSD layout: map {} has {} anchors per location, the generator makes {}", l,
           layout.anchors_per_location[l], shapes.size());
    }
    const int64_t fm = layout.feature_maps[l];
    for (int64_t y = 0; y < fm; ++y)
      for (int64_t x = 0; x < fm; ++x)
        for (auto [s, ar] : shapes) {
          out.push_back(
              {static_cast<float>((static_cast<double>(y) + 0.5) / static_cast<double>(fm)),
               static_cast<float>((static_cast<double>(x) + 0.5) / static_cast<double>(fm)),
               static_cast<float>(s / std::sqrt(ar)), static_cast<float>(s * std::sqrt(ar))});
        }
  }
  return out;
}

std::vector<Detection> decode_ssd(std::span<const float> enc, std::span<const float> logits,
                                  const std::vector<Anchor>& anchors, int64_t classes,
                                  float score_threshold, float iou_threshold,
                                  int64_t max_detections) {
  const size_t n = anchors.size();
  if (enc.size() != n * 4 || logits.size() != n * static_cast<size_t>(classes)) {
    fail("SSD outputs hold {} box values and {} scores; {} anchors x {} classes expected",
         enc.size(), logits.size(), n, classes);
  }
  std::vector<Box> boxes(n);
  for (size_t i = 0; i < n; ++i) {
    const auto& a = anchors[i];
    const float cy = enc[i * 4] / 10.f * a.h + a.cy, cx = enc[i * 4 + 1] / 10.f * a.w + a.cx;
    const float h = std::exp(enc[i * 4 + 2] / 5.f) * a.h, w = std::exp(enc[i * 4 + 3] / 5.f) * a.w;
    boxes[i] = {cy - h / 2, cx - w / 2, cy + h / 2, cx + w / 2};
  }
  // sigmoid(x) >= t  <=>  x >= log(t / (1 - t)): compare logits, exponentiate the few kept.
  const float t = std::clamp(score_threshold, 1e-6f, 1 - 1e-6f);
  const float logit_threshold = std::log(t / (1 - t));
  std::vector<Detection> out;
  for (int64_t c = 1; c < classes; ++c) {
    std::vector<Box> cb;
    std::vector<float> cs;
    for (size_t i = 0; i < n; ++i) {
      const float l = logits[i * static_cast<size_t>(classes) + static_cast<size_t>(c)];
      if (l < logit_threshold) continue;
      cb.push_back(boxes[i]);
      cs.push_back(1.f / (1.f + std::exp(-l)));
    }
    for (size_t k :
         non_max_suppression(cb, cs, iou_threshold, static_cast<size_t>(max_detections))) {
      out.push_back({cb[k], c, cs[k]});
    }
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const Detection& a, const Detection& b) { return a.score > b.score; });
  if (static_cast<int64_t>(out.size()) > max_detections)
    out.resize(static_cast<size_t>(max_detections));
  return out;
}

std::vector<uint8_t> argmax_mask(std::span<const float> logits, int64_t classes, int64_t height,
                                 int64_t width) {
  const size_t plane = static_cast<size_t>(height * width);
  if (logits.size() != plane * static_cast<size_t>(classes)) {
    fail("mask logits hold {} values, expected {} x {} x {}", logits.size(), classes, height,
         width);
  }
  if (classes > 256) fail("argmax mask: {} classes do not fit 8-bit labels", classes);
  std::vector<uint8_t> mask(plane, 0);
  std::vector<float> best(logits.begin(), logits.begin() + static_cast<long>(plane));
  for (int64_t c = 1; c < classes; ++c) {
    const float* p = logits.data() + static_cast<size_t>(c) * plane;
    for (size_t i = 0; i < plane; ++i) {
      if (p[i] > best[i]) {
        best[i] = p[i];
        mask[i] = static_cast<uint8_t>(c);
      }
    }
  }
  return mask;
}

std::vector<int16_t> generate_audio(int64_t samples, uint64_t seed) {
  Rng rng(seed);
  const double f1 = rng.uniform(200, 800), f2 = rng.uniform(1000, 3000);
  std::vector<int16_t> out(static_cast<size_t>(samples));
  for (int64_t i = 0; i < samples; ++i) {
    const double t = static_cast<double>(i) / 16000.0;
    const double env = std::sin(M_PI * static_cast<double>(i) / static_cast<double>(samples));
    const double v = env * (0.5 * std::sin(2 * M_PI * f1 * t) + 0.3 * std::sin(2 * M_PI * f2 * t)) +
                     0.05 * rng.uniform(-1, 1);
    out[static_cast<size_t>(i)] =
        static_cast<int16_t>(std::lround(std::clamp(v, -1.0, 1.0) * 32767));
  }
  return out;
}

std::vector<float> spectrogram(std::span<const int16_t> pcm, int64_t frames, int64_t bins) {
  const int64_t window = 480, hop = 160;  // 30 ms and 10 ms at 16 kHz
  const int64_t need = window + (frames - 1) * hop;
  if (static_cast<int64_t>(pcm.size()) < need) {
    fail("audio holds {} samples; {} frames need {}", pcm.size(), frames, need);
  }
  const int64_t top_bin = window * 4000 / 16000;  // DFT bins up to 4 kHz
  if (bins < 1 || bins > top_bin) fail("spectrogram: {} bands outside 1..{}", bins, top_bin);
  std::vector<double> hann(static_cast<size_t>(window));
  for (int64_t n = 0; n < window; ++n) {
    hann[static_cast<size_t>(n)] =
        0.5 - 0.5 * std::cos(2 * M_PI * static_cast<double>(n) / static_cast<double>(window));
  }
  std::vector<double> cosv(static_cast<size_t>(window)), sinv(static_cast<size_t>(window));
  for (int64_t n = 0; n < window; ++n) {
    cosv[static_cast<size_t>(n)] =
        std::cos(2 * M_PI * static_cast<double>(n) / static_cast<double>(window));
    sinv[static_cast<size_t>(n)] =
        std::sin(2 * M_PI * static_cast<double>(n) / static_cast<double>(window));
  }
  std::vector<float> out(static_cast<size_t>(frames * bins));
  std::vector<double> x(static_cast<size_t>(window));
  for (int64_t f = 0; f < frames; ++f) {
    for (int64_t n = 0; n < window; ++n) {
      x[static_cast<size_t>(n)] =
          pcm[static_cast<size_t>(f * hop + n)] / 32768.0 * hann[static_cast<size_t>(n)];
    }
    for (int64_t b = 0; b < bins; ++b) {
      double power = 0;
      for (int64_t k = 1 + b * top_bin / bins; k <= (b + 1) * top_bin / bins; ++k) {
        double re = 0, im = 0;
        for (int64_t n = 0; n < window; ++n) {
          const size_t idx = static_cast<size_t>((k * n) % window);
          re += x[static_cast<size_t>(n)] * cosv[idx];
          im -= x[static_cast<size_t>(n)] * sinv[idx];
        }
        power += re * re + im * im;
      }
      out[static_cast<size_t>(f * bins + b)] = static_cast<float>(std::log(power + 1e-6));
    }
  }
  return out;
}

std::vector<int64_t> tokenize(std::string_view question, std::string_view context, int64_t vocab,
                              int64_t length) {
  if (vocab <= 1000 || length < 3)
    fail("tokenize: vocabulary {} or length {} too small", vocab, length);
  auto words = [&](std::string_view text, std::vector<int64_t>& ids) {
    std::string w;
    auto flush = [&] {
      if (!w.empty())
        ids.push_back(1000 +
                      static_cast<int64_t>(hash_string(w) % static_cast<uint64_t>(vocab - 1000)));
      w.clear();
    };
    for (char ch : text) {
      const auto c = static_cast<unsigned char>(ch);
      if (std::isalnum(c)) {
        w += static_cast<char>(std::tolower(c));
      } else {
        flush();
        if (std::ispunct(c)) {
          w = std::string(1, ch);
          flush();
        }
      }
    }
    flush();
  };
  std::vector<int64_t> ids = {101};
  words(question, ids);
  ids.push_back(102);
  words(context, ids);
  ids.push_back(102);
  ids.resize(static_cast<size_t>(length), 0);
  if (ids.back() != 0) ids.back() = 102;
  return ids;
}

std::vector<float> embed(std::span<const int64_t> ids, std::span<const float> table,
                         int64_t width) {
  const int64_t vocab = static_cast<int64_t>(table.size()) / width;
  std::vector<float> out(ids.size() * static_cast<size_t>(width));
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= vocab)
      fail("token id {} outside the vocabulary of {}", ids[i], vocab);
    std::copy_n(table.data() + ids[i] * width, width, out.data() + static_cast<int64_t>(i) * width);
  }
  return out;
}

std::pair<int64_t, int64_t> answer_span(std::span<const float> logits, int64_t length,
                                        int64_t max_len) {
  if (static_cast<int64_t>(logits.size()) != length * 2) {
    fail("answer logits hold {} values, expected {} x 2", logits.size(), length);
  }
  std::pair<int64_t, int64_t> best{0, 0};
  float best_score = -INFINITY;
  for (int64_t s = 0; s < length; ++s)
    for (int64_t e = s; e < std::min(length, s + max_len); ++e) {
      const float v = logits[static_cast<size_t>(s * 2)] + logits[static_cast<size_t>(e * 2 + 1)];
      if (v > best_score) best_score = v, best = {s, e};
    }
  return best;
}

}  // namespace nnjoule::zoo
