// Fuzz target h5: the HDF5 reader of the Keras weight import,
// model::read_h5_datasets, which runs the HDF5 walk (model/src/stranet/h5_walk.cpp)
// in a child process and parses the child's stream
// (model/src/stranet/h5_child_reader.cpp). Only ModelError may leave it, and
// every dataset it returns holds prod(shape) values. What this checks is that
// the calling process survives any file: a crash of libhdf5 in the child must
// come back as a ModelError. libFuzzer sees no coverage from the child.
//
// Built with FUZZ_H5_IN_PROCESS (fuzz_h5_inprocess.cpp, target h5-inprocess),
// the same target calls the walk in this process instead, so that libFuzzer
// explores libhdf5 and our walk with coverage; its random runs crash inside
// libhdf5 (tests/fuzz/README.md), so it is for hand runs, not CI.
#include <hdf5.h>

#include <pthread.h>

#include <array>
#include <stdexcept>

#include "../../model/src/stranet/h5_reader.hpp"
#include "fuzz_target.hpp"
#include "salmodel/stranet.hpp"

// Weak: present only in sanitizer builds.
extern "C" void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));

namespace {

#ifdef FUZZ_H5_IN_PROCESS
std::vector<model::H5Dataset> read_datasets(const std::string &path) {
  return model::h5::read_h5_datasets_in_process(path);
}
#else
std::vector<model::H5Dataset> read_datasets(const std::string &path) { return model::read_h5_datasets(path); }

// In the reader's child, a sanitizer report (e.g. ASan's memcpy interceptor
// seeing libhdf5 write through a NULL pointer) must only kill the child:
// without this, libFuzzer's death callback would save the input as a crash of
// the fuzzing process. (The reader resets the crash signals itself.)
void forget_death_callback_in_child() {
  if (__sanitizer_set_death_callback) __sanitizer_set_death_callback(nullptr);
}
const int kAtFork = pthread_atfork(nullptr, nullptr, forget_death_callback_in_child);
#endif

// Writes a float32 dataset `path` (intermediate groups created) of `dims`.
void write_dataset(hid_t file, const char *path, std::vector<hsize_t> dims, hid_t file_type,
                   bool chunked_gzip = false) {
  hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
  H5Pset_create_intermediate_group(lcpl, 1);
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  if (chunked_gzip) {
    H5Pset_chunk(dcpl, static_cast<int>(dims.size()), dims.data());
    H5Pset_deflate(dcpl, 4);
  }
  hid_t space = H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr);
  hid_t ds = H5Dcreate2(file, path, file_type, space, lcpl, dcpl, H5P_DEFAULT);
  hsize_t n = 1;
  for (hsize_t d : dims) n *= d;
  std::vector<float> v(n);
  for (hsize_t i = 0; i < n; i++) v[i] = 0.25f * static_cast<float>(i) - 1.f;
  if (n > 0) H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data());
  H5Dclose(ds);
  H5Sclose(space);
  H5Pclose(dcpl);
  H5Pclose(lcpl);
}

fuzz::Bytes make_file(const std::string &path, bool latest_format, int variant) {
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  if (latest_format) H5Pset_libver_bounds(fapl, H5F_LIBVER_LATEST, H5F_LIBVER_LATEST);
  hid_t file = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
  // Keras' layout: model_weights/<layer>/<layer>/<var>:0
  write_dataset(file, "model_weights/conv2d_1/conv2d_1/kernel:0", {3, 3, 2, 4}, H5T_IEEE_F32LE);
  write_dataset(file, "model_weights/conv2d_1/conv2d_1/bias:0", {4}, H5T_IEEE_F32BE);
  if (variant >= 1) {
    write_dataset(file, "model_weights/batch_normalization_1/batch_normalization_1/gamma:0", {4},
                  H5T_IEEE_F64LE, /*chunked_gzip=*/true);
    write_dataset(file, "model_weights/empty/empty/kernel:0", {0, 3}, H5T_IEEE_F32LE);
    H5Lcreate_soft("/model_weights/conv2d_1", file, "alias", H5P_DEFAULT, H5P_DEFAULT);
    H5Lcreate_soft("/nowhere", file, "dangling", H5P_DEFAULT, H5P_DEFAULT);
  }
  if (variant == 2) {  // a non-float dataset: refused with a message
    hsize_t n = 3;
    hid_t space = H5Screate_simple(1, &n, nullptr);
    hid_t ds = H5Dcreate2(file, "counter", H5T_STD_I32LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    const int v[3] = {1, 2, 3};
    H5Dwrite(ds, H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
    H5Dclose(ds);
    H5Sclose(space);
  }
  if (variant == 3) {
    // Regression: a dataset claiming 2^40 floats that were never written (no
    // bytes in the file). It made read_h5_datasets allocate 4 TiB, and the
    // bad_alloc crossed HDF5's C frames; now a ModelError.
    const hsize_t huge[2] = {hsize_t(1) << 20, hsize_t(1) << 20};
    hid_t space = H5Screate_simple(2, huge, nullptr);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 2, std::array<hsize_t, 2>{64, 64}.data());
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t ds = H5Dcreate2(file, "model_weights/huge/huge/kernel:0", H5T_IEEE_F32LE, space, lcpl, dcpl,
                          H5P_DEFAULT);
    if (ds < 0) throw std::logic_error("cannot create the huge-dataset seed");
    H5Dclose(ds);
    H5Pclose(lcpl);
    H5Pclose(dcpl);
    H5Sclose(space);
  }
  H5Fclose(file);
  H5Pclose(fapl);
  return fuzz::read_file(path);
}

}  // namespace

namespace fuzz {

#ifdef FUZZ_H5_IN_PROCESS
const char *target_name() { return "h5-inprocess"; }
#else
const char *target_name() { return "h5"; }
#endif

std::vector<Bytes> seeds() {
  TempDir dir;
  std::vector<Bytes> out;
  for (bool latest : {false, true})
    for (int variant = 0; variant < 4; variant++) out.push_back(make_file(dir / "seed.h5", latest, variant));
  // The seeds must parse, or the fuzzer never gets past the file signature.
  std::size_t parsed = 0;
  for (const Bytes &b : out) {
    TempFile f(b.data(), b.size());
    try {
      parsed += !read_datasets(f.path()).empty();
    } catch (const model::ModelError &) {  // variants 2 and 3: refused on purpose
    }
  }
  if (parsed != 4) throw std::logic_error("the h5 seeds do not parse: " + std::to_string(parsed) + " of 4");
  return out;
}

}  // namespace fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
  fuzz::TempFile file(data, size);  // HDF5 resolves the path: no memfd
  try {
    for (const model::H5Dataset &d : read_datasets(file.path())) {
      std::size_t n = 1;
      for (std::int64_t s : d.shape) n *= static_cast<std::size_t>(s);
      if (d.values.size() != n) throw std::logic_error("dataset " + d.path + ": values do not match its shape");
    }
  } catch (const model::ModelError &) {
  }
  return 0;
}
