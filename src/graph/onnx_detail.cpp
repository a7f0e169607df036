#include "onnx_detail.hpp"

#include <fmt/format.h>

#include <bit>
#include <cstring>

#include "nnjoule/common/error.hpp"

namespace nnjoule::graph::detail {

static_assert(std::endian::native == std::endian::little,
              "ONNX raw_data is little-endian; a big-endian host would need byte swaps");

using onnx::TensorProto;

int32_t onnx_elem_type(DType t) {
  switch (t) {
    case DType::kFloat32:
      return TensorProto::FLOAT;
    case DType::kInt64:
      return TensorProto::INT64;
    case DType::kInt32:
      return TensorProto::INT32;
    case DType::kBool:
      return TensorProto::BOOL;
    case DType::kFloat16:
      return TensorProto::FLOAT16;
    case DType::kFloat64:
      return TensorProto::DOUBLE;
    case DType::kUInt8:
      return TensorProto::UINT8;
    case DType::kInt8:
      return TensorProto::INT8;
  }
  return TensorProto::UNDEFINED;
}

bool dtype_from_onnx(int32_t elem, DType* out) {
  switch (elem) {
    case TensorProto::FLOAT:
      *out = DType::kFloat32;
      return true;
    case TensorProto::INT64:
      *out = DType::kInt64;
      return true;
    case TensorProto::INT32:
      *out = DType::kInt32;
      return true;
    case TensorProto::BOOL:
      *out = DType::kBool;
      return true;
    case TensorProto::FLOAT16:
      *out = DType::kFloat16;
      return true;
    case TensorProto::DOUBLE:
      *out = DType::kFloat64;
      return true;
    case TensorProto::UINT8:
      *out = DType::kUInt8;
      return true;
    case TensorProto::INT8:
      *out = DType::kInt8;
      return true;
    default:
      return false;
  }
}

std::string onnx_type_name(int32_t elem) {
  if (TensorProto::DataType_IsValid(elem)) {
    return TensorProto::DataType_Name(static_cast<TensorProto::DataType>(elem));
  }
  return fmt::format("#{}", elem);
}

int64_t checked_numel(const Shape& s, const std::string& what) {
  int64_t n = 1;
  for (int64_t d : s) {
    if (d < 0) fail("{}: negative dimension in shape {}", what, shape_str(s));
    if (__builtin_mul_overflow(n, d, &n)) fail("{}: shape {} is too large", what, shape_str(s));
  }
  return n;
}

std::string first_line(std::string_view s) {
  const auto p = s.find('\n');
  return std::string(s.substr(0, p));
}

namespace {

float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13);  // inf / nan
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  } else if (mant == 0) {
    bits = sign;
  } else {
    // Subnormal half: normalise into a float.
    exp = 113;
    while ((mant & 0x400u) == 0) {
      mant <<= 1;
      --exp;
    }
    bits = sign | (exp << 23) | ((mant & 0x3ffu) << 13);
  }
  return std::bit_cast<float>(bits);
}

// Raw little-endian values of type T, after checking the byte count against the shape.
template <typename T>
std::vector<T> raw_values(const std::string& raw, int64_t n, const std::string& what) {
  if (raw.size() % sizeof(T) != 0 || raw.size() / sizeof(T) != static_cast<uint64_t>(n)) {
    fail("{}: raw_data holds {} bytes, expected {} values of {} bytes", what, raw.size(), n,
         sizeof(T));
  }
  std::vector<T> v(static_cast<size_t>(n));
  if (n > 0) std::memcpy(v.data(), raw.data(), raw.size());
  return v;
}

template <typename Field>
void check_count(const Field& f, int64_t n, const std::string& what, const char* field) {
  if (static_cast<int64_t>(f.size()) != n) {
    fail("{}: {} holds {} values, shape needs {}", what, field, f.size(), n);
  }
}

template <typename T>
std::vector<int64_t> ints_from_raw(const std::string& raw, int64_t n, const std::string& what) {
  auto v = raw_values<T>(raw, n, what);
  std::vector<int64_t> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = static_cast<int64_t>(v[i]);
  return out;
}

}  // namespace

TensorData tensor_from_proto(const TensorProto& t, const std::string& what, Conversions& conv) {
  if (t.has_segment()) fail("{}: segmented tensors are not supported", what);
  if (t.data_location() == TensorProto::EXTERNAL || t.external_data_size() > 0) {
    fail("{}: data is stored in an external file; nnjoule reads self-contained models only", what);
  }
  TensorData out;
  out.shape.assign(t.dims().begin(), t.dims().end());
  const int64_t n = checked_numel(out.shape, what);
  const bool raw = t.has_raw_data();
  const std::string& r = t.raw_data();
  switch (t.data_type()) {
    case TensorProto::FLOAT:
      out.dtype = DType::kFloat32;
      if (raw) {
        out.f32 = raw_values<float>(r, n, what);
      } else {
        check_count(t.float_data(), n, what, "float_data");
        out.f32.assign(t.float_data().begin(), t.float_data().end());
      }
      return out;
    case TensorProto::DOUBLE: {
      out.dtype = DType::kFloat32;
      std::vector<double> d;
      if (raw) {
        d = raw_values<double>(r, n, what);
      } else {
        check_count(t.double_data(), n, what, "double_data");
        d.assign(t.double_data().begin(), t.double_data().end());
      }
      out.f32.assign(d.begin(), d.end());
      ++conv.float64;
      return out;
    }
    case TensorProto::FLOAT16:
    case TensorProto::BFLOAT16: {
      out.dtype = DType::kFloat32;
      std::vector<uint16_t> bits;
      if (raw) {
        bits = raw_values<uint16_t>(r, n, what);
      } else {
        // ONNX stores 16-bit floats one per int32_data entry.
        check_count(t.int32_data(), n, what, "int32_data");
        for (int32_t v : t.int32_data()) bits.push_back(static_cast<uint16_t>(v));
      }
      out.f32.resize(bits.size());
      const bool bf16 = t.data_type() == TensorProto::BFLOAT16;
      for (size_t i = 0; i < bits.size(); ++i) {
        out.f32[i] = bf16 ? std::bit_cast<float>(static_cast<uint32_t>(bits[i]) << 16)
                          : half_to_float(bits[i]);
      }
      ++(bf16 ? conv.bfloat16 : conv.float16);
      return out;
    }
    case TensorProto::INT64:
      out.dtype = DType::kInt64;
      if (raw) {
        out.i64 = raw_values<int64_t>(r, n, what);
      } else {
        check_count(t.int64_data(), n, what, "int64_data");
        out.i64.assign(t.int64_data().begin(), t.int64_data().end());
      }
      return out;
    case TensorProto::INT32:
    case TensorProto::INT16:
    case TensorProto::INT8:
    case TensorProto::UINT16:
    case TensorProto::UINT8:
    case TensorProto::BOOL:
      // Quantized data keeps its type (QDQ zero points and weights, int32 biases).
      out.dtype = t.data_type() == TensorProto::INT8    ? DType::kInt8
                  : t.data_type() == TensorProto::UINT8 ? DType::kUInt8
                  : t.data_type() == TensorProto::INT32 ? DType::kInt32
                                                        : DType::kInt64;
      if (raw) {
        switch (t.data_type()) {
          case TensorProto::INT32:
            out.i64 = ints_from_raw<int32_t>(r, n, what);
            break;
          case TensorProto::INT16:
            out.i64 = ints_from_raw<int16_t>(r, n, what);
            break;
          case TensorProto::INT8:
            out.i64 = ints_from_raw<int8_t>(r, n, what);
            break;
          case TensorProto::UINT16:
            out.i64 = ints_from_raw<uint16_t>(r, n, what);
            break;
          default:
            out.i64 = ints_from_raw<uint8_t>(r, n, what);
            break;
        }
      } else {
        check_count(t.int32_data(), n, what, "int32_data");
        out.i64.assign(t.int32_data().begin(), t.int32_data().end());
      }
      return out;
    case TensorProto::UINT32:
    case TensorProto::UINT64:
      out.dtype = DType::kInt64;
      if (raw) {
        out.i64 = t.data_type() == TensorProto::UINT32 ? ints_from_raw<uint32_t>(r, n, what)
                                                       : ints_from_raw<uint64_t>(r, n, what);
      } else {
        check_count(t.uint64_data(), n, what, "uint64_data");
        for (uint64_t v : t.uint64_data()) out.i64.push_back(static_cast<int64_t>(v));
      }
      return out;
    default:
      fail("{}: element type {} is not supported", what, onnx_type_name(t.data_type()));
  }
}

void tensor_to_proto(const TensorData& t, const std::string& name, TensorProto* out) {
  out->set_name(name);
  for (int64_t d : t.shape) out->add_dims(d);
  if (t.dtype == DType::kFloat32) {
    out->set_data_type(TensorProto::FLOAT);
    out->set_raw_data(t.f32.data(), t.f32.size() * sizeof(float));
  } else if (t.dtype == DType::kInt8 || t.dtype == DType::kUInt8 || t.dtype == DType::kInt32) {
    std::string raw;
    const size_t width = dtype_size(t.dtype);
    raw.resize(t.i64.size() * width);
    for (size_t i = 0; i < t.i64.size(); ++i) {
      if (width == 1) {
        raw[i] = static_cast<char>(static_cast<uint8_t>(t.i64[i] & 0xff));
      } else {
        const auto v = static_cast<int32_t>(t.i64[i]);
        std::memcpy(&raw[i * 4], &v, 4);  // little-endian hosts only (x86-64, aarch64)
      }
    }
    out->set_data_type(t.dtype == DType::kInt8    ? TensorProto::INT8
                       : t.dtype == DType::kUInt8 ? TensorProto::UINT8
                                                  : TensorProto::INT32);
    out->set_raw_data(raw);
  } else {
    out->set_data_type(TensorProto::INT64);
    out->set_raw_data(t.i64.data(), t.i64.size() * sizeof(int64_t));
  }
}

}  // namespace nnjoule::graph::detail
