// Schema 5 (issue 17): kernel rows and model kernels carry the data type they ran in; files
// written before it read as float32, read-only or migrated.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "nnjoule/store/store.hpp"
#include "store/raw_sql.hpp"
#include "store/rows.hpp"
#include "support/test_support.hpp"

using namespace nnjoule;
using namespace nnjoule::store;
using nnjoule::testing::kernel_row;
using nnjoule::testing::make_run;
using nnjoule::testing::raw_exec;
using nnjoule::testing::TempDir;
using nnjoule::testing::test_device;

namespace {

Model two_kernel_model(const std::string& hash, const std::string& second_dtype) {
  Model m;
  m.hash = hash;
  m.hash_kind = "onnx";
  m.name = "m-" + hash;
  m.kernels = {ModelKernel{.type = "quantize", .name = "q0"},
               ModelKernel{.type = "conv-relu", .name = "conv1", .dtype = second_dtype}};
  return m;
}

}  // namespace

TEST(DtypeSchema, Version4FileReadsFp32AndMigrates) {
  TempDir tmp;
  const auto file = tmp / "v4.db";
  {
    Store s(file);
    const int64_t dev = s.ensure_device(test_device());
    const int64_t run = s.begin_run(make_run(dev, "kernels", Origin::kEstimated, "estimate"));
    s.add_kernel(kernel_row(run, dev, 8));
    s.ensure_model(two_kernel_model("aa", "fp32"));
  }
  // What nnjoule 4 wrote: no dtype columns.
  raw_exec(file,
           "ALTER TABLE kernel_measurements DROP COLUMN dtype; ALTER TABLE model_kernels DROP "
           "COLUMN dtype; PRAGMA user_version = 4;");
  {
    Store reader(file, Store::Options{.read_only = true});
    EXPECT_EQ(reader.schema_version(), 4);
    const auto rows = reader.kernels({});
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_EQ(rows[0].dtype, "fp32");
    EXPECT_EQ(reader.models().at(0).kernels.at(1).dtype, "fp32");
  }
  Store s(file);
  EXPECT_EQ(s.schema_version(), kSchemaVersion);
  EXPECT_EQ(s.kernels({}).at(0).dtype, "fp32");
  // The migrated file stores int8 rows beside the old ones.
  auto r = kernel_row(1, 1, 16);
  r.dtype = "int8";
  r.key += "/int8";
  s.add_kernel(r);
  s.ensure_model(two_kernel_model("bb", "int8"));
  const auto rows = s.kernels({});
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].dtype, "fp32");
  EXPECT_EQ(rows[1].dtype, "int8");
  const auto models = s.models();
  ASSERT_EQ(models.size(), 2u);
  EXPECT_EQ(models[0].kernels.at(1).dtype, "fp32");
  EXPECT_EQ(models[1].kernels.at(0).dtype, "fp32");
  EXPECT_EQ(models[1].kernels.at(1).dtype, "int8");
}
