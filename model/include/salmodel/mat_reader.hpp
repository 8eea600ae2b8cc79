// A small reader for MATLAB level-5 MAT-files (the format of `save -v6`/`-v7`),
// enough for the fixation maps of the saliency benchmarks (model-spec C.1, C.5:
// `fixation/maps/NNNN.mat`, variable `I`). Written for this project; it does not
// use libmatio.
//
// Supported: little- and big-endian files; top-level variables stored plainly
// (miMATRIX) or zlib-compressed (miCOMPRESSED, the -v7 default); real, 2-D,
// full (non-sparse) numeric and logical arrays of every class (double, single,
// int8..uint64, logical), whatever integer type MATLAB chose to store them in.
// Not supported (reported as errors): MAT v4 and v7.3 (HDF5) files, sparse,
// complex, char, cell, struct and object variables, N-D arrays.
//
// Every size and offset is checked against the file (or the decompressed
// buffer) before use, so truncated or corrupt files raise ModelError instead of
// reading out of bounds.
#pragma once

#include <opencv2/core/mat.hpp>
#include <string>
#include <vector>

#include "salmodel/predictor.hpp"  // ModelError

namespace model {

/// One variable of a MAT-file as listed by list_mat_variables().
struct MatVariableInfo {
  std::string name;
  /// MATLAB class name: "double", "single", "uint8", ..., "logical", "sparse",
  /// "cell", "struct", "char", "object" or "unknown".
  std::string class_name;
  /// Dimensions as stored (MATLAB order: rows, columns, ...).
  std::vector<int> dims;
};

/// Reads the 2-D numeric or logical variable `name` of the MAT-file `path` as a
/// CV_64F matrix of the same rows x columns (MATLAB stores column-major; the
/// result is an ordinary row-major cv::Mat). Values are converted exactly to
/// double (64-bit integers beyond 2^53 round). An N-D array whose trailing
/// dimensions are all 1 counts as 2-D. An empty variable gives an empty Mat.
///
/// Throws ModelError("<path>: <problem>") when the file is missing, is not a
/// level-5 MAT-file, is truncated or corrupt, lacks the variable (the message
/// lists the variables present) or holds it in an unsupported form.
/// Thread-safe (no shared state).
cv::Mat read_mat_variable(const std::string &path, const std::string &name);

/// Lists the top-level variables of a MAT-file in file order, without
/// converting their data (compressed variables are still decompressed to read
/// their headers). Throws ModelError like read_mat_variable().
std::vector<MatVariableInfo> list_mat_variables(const std::string &path);

/// As read_mat_variable(), on a file already in memory; `source` names it in
/// error messages. Used by the tests to check hand-made and corrupted files.
cv::Mat read_mat_variable_from_memory(const std::vector<unsigned char> &bytes,
                                      const std::string &name, const std::string &source);

}  // namespace model
