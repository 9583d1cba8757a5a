// What the tests on real data share: the directory of the converted models and reading one of the
// reference JSON files of tests/data/realdata.
#pragma once

#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "json.hpp"

namespace lmtcnn_test {

/// $LMTCNN_MODEL_DIR (the converted face-api.js models); the test fails when it is not set.
inline std::string model_dir() {
  const char* dir = std::getenv("LMTCNN_MODEL_DIR");
  REQUIRE_MESSAGE(dir != nullptr, "set LMTCNN_MODEL_DIR to the directory holding the converted face-api.js models");
  return dir;
}

/// The JSON document of data_dir/realdata/name.
inline lmtcnn_tools::json realdata_json(const std::string& data_dir, const std::string& name) {
  std::ifstream in(data_dir + "/realdata/" + name);
  REQUIRE_MESSAGE(in.good(), "cannot read " << data_dir << "/realdata/" << name);
  std::stringstream ss;
  ss << in.rdbuf();
  return lmtcnn_tools::json_parser::parse(ss.str(), name);
}

}  // namespace lmtcnn_test
