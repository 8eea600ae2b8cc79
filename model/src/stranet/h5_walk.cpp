// The HDF5 walk of the Keras weight import (h5_reader.hpp): every dataset of
// the file, whatever the layer_names/weight_names attributes say, with every
// size the file claims bounded before anything is allocated. libhdf5 parses the
// file in the calling process; read_h5_datasets() runs this in a child
// (h5_child_reader.cpp).
#include <hdf5.h>

#include <cstdint>
#include <cstring>
#include <new>

#include "h5_reader.hpp"

namespace model::h5 {

namespace {

struct H5Handle {  // closes an HDF5 id with its own close function
  hid_t id;
  herr_t (*close)(hid_t);
  ~H5Handle() {
    if (id >= 0) close(id);
  }
};

struct Walk {
  const DatasetSink *sink;
  std::string error;
  // Floats still allowed in all datasets together (value_budget).
  std::uint64_t budget = 0;
  // Links still allowed, and the longest link path accepted: a Keras weight
  // file has a few thousand short names, while a corrupt file can chain its
  // groups into a tree so deep or wide that walking it never ends (found by
  // fuzzing: HDF5 rebuilt ever longer paths for minutes).
  std::uint64_t links_left = kMaxLinks;
};

herr_t visit_link_unchecked(hid_t group, const char *name, Walk *walk);

// HDF5 is C: no exception may cross it, so the callback reports them as errors.
herr_t visit_link(hid_t group, const char *name, const H5L_info_t *, void *data) {
  auto *walk = static_cast<Walk *>(data);
  try {
    return visit_link_unchecked(group, name, walk);
  } catch (const std::bad_alloc &) {
    walk->error = "out of memory reading the datasets";
  } catch (const std::exception &e) {
    walk->error = e.what();
  }
  return -1;
}

herr_t visit_link_unchecked(hid_t group, const char *name, Walk *walk) {
  if (walk->links_left == 0) {
    walk->error = "more than 65536 links (corrupt file?)";
    return -1;
  }
  --walk->links_left;
  if (std::strlen(name) > kMaxPathLength) {
    walk->error = "a link path longer than 1024 characters (corrupt file?)";
    return -1;
  }
  hid_t obj;
  H5E_BEGIN_TRY { obj = H5Oopen(group, name, H5P_DEFAULT); }
  H5E_END_TRY;
  if (obj < 0) return 0;  // dangling/external link: nothing to read
  H5Handle o{obj, H5Oclose};
  if (H5Iget_type(obj) != H5I_DATASET) return 0;
  H5Handle type{H5Dget_type(obj), H5Tclose};
  if (H5Tget_class(type.id) != H5T_FLOAT) {
    walk->error = std::string("dataset ") + name + " is not floating point";
    return -1;
  }
  H5Handle space{H5Dget_space(obj), H5Sclose};
  const int nd = H5Sget_simple_extent_ndims(space.id);
  if (nd < 0) {
    walk->error = std::string("cannot read the shape of ") + name;
    return -1;
  }
  std::vector<hsize_t> dims(static_cast<std::size_t>(nd), 0);
  H5Sget_simple_extent_dims(space.id, dims.data(), nullptr);
  H5Dataset d;
  d.path = name;
  std::uint64_t n = 1;
  for (auto v : dims) {
    d.shape.push_back(int64_t(v));
    if (v != 0 && n > walk->budget / v) n = walk->budget + 1;  // also guards the product
    else n *= v;
  }
  if (n > walk->budget) {
    walk->error = std::string("dataset ") + name +
                  " claims more values than a file of this size can hold (corrupt file?)";
    return -1;
  }
  walk->budget -= n;
  d.values.resize(static_cast<std::size_t>(n));
  if (n > 0 && H5Dread(obj, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, d.values.data()) < 0) {
    walk->error = std::string("cannot read dataset ") + name;
    return -1;
  }
  (*walk->sink)(std::move(d));
  return 0;
}

}  // namespace

void walk_h5_datasets(const std::string &path, const DatasetSink &sink) {
  htri_t is_h5;
  H5E_BEGIN_TRY { is_h5 = H5Fis_hdf5(path.c_str()); }
  H5E_END_TRY;
  if (is_h5 <= 0) throw ModelError(path + ": cannot open as an HDF5 file (missing, unreadable or not HDF5)");
  hid_t file;
  H5E_BEGIN_TRY { file = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT); }
  H5E_END_TRY;
  if (file < 0) throw ModelError(path + ": cannot open as an HDF5 file");
  H5Handle f{file, H5Fclose};
  Walk walk{&sink, {}};
  hsize_t file_bytes = 0;
  H5Fget_filesize(file, &file_bytes);
  walk.budget = value_budget(file_bytes);
  herr_t rc;
  H5E_BEGIN_TRY { rc = H5Lvisit(file, H5_INDEX_NAME, H5_ITER_INC, visit_link, &walk); }
  H5E_END_TRY;
  if (rc < 0) throw ModelError(path + ": " + (walk.error.empty() ? "cannot walk the HDF5 file" : walk.error));
}

std::vector<H5Dataset> read_h5_datasets_in_process(const std::string &path) {
  std::vector<H5Dataset> out;
  walk_h5_datasets(path, [&out](H5Dataset &&d) { out.push_back(std::move(d)); });
  return out;
}

}  // namespace model::h5
