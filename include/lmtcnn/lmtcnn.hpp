// lmtcnn: everything in one include.
#pragma once

#include "lmtcnn/error.hpp"
#include "lmtcnn/graph.hpp"
#include "lmtcnn/image.hpp"
#include "lmtcnn/model.hpp"
#include "lmtcnn/nets/lmtcnn.hpp"
#include "lmtcnn/reference.hpp"
#include "lmtcnn/seeded.hpp"
#include "lmtcnn/tensor.hpp"
#include "lmtcnn/weights_file.hpp"
