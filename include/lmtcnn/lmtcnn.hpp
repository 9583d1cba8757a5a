// lmtcnn: everything in one include, except image files (lmtcnn/io/image_io.hpp, lmtcnn/face/age_gender.hpp),
// which compile stb_image into the including file.
#pragma once

#include "lmtcnn/engine/engine.hpp"
#include "lmtcnn/core/error.hpp"
#include "lmtcnn/graph/graph.hpp"
#include "lmtcnn/graph/graph_net.hpp"
#include "lmtcnn/graph/ops.hpp"
#include "lmtcnn/io/resize.hpp"
#include "lmtcnn/engine/model.hpp"
#include "lmtcnn/nets/faceapi.hpp"
#include "lmtcnn/nets/lmtcnn.hpp"
#include "lmtcnn/reference/ops.hpp"
#include "lmtcnn/core/seeded.hpp"
#include "lmtcnn/core/tensor.hpp"
#include "lmtcnn/format/weights_file.hpp"
