// lmtcnn: everything in one include, except image files (lmtcnn/image_io.hpp, lmtcnn/age_gender.hpp),
// which compile stb_image into the including file.
#pragma once

#include "lmtcnn/engine.hpp"
#include "lmtcnn/error.hpp"
#include "lmtcnn/graph.hpp"
#include "lmtcnn/image.hpp"
#include "lmtcnn/model.hpp"
#include "lmtcnn/nets/faceapi.hpp"
#include "lmtcnn/nets/lmtcnn.hpp"
#include "lmtcnn/reference.hpp"
#include "lmtcnn/seeded.hpp"
#include "lmtcnn/tensor.hpp"
#include "lmtcnn/weights_file.hpp"
