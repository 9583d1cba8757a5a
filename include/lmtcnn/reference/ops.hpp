// lmtcnn: the scalar reference implementation of every op, the oracle for the fast kernels.
#pragma once

#include "lmtcnn/reference/common.hpp"
#include "lmtcnn/reference/conv.hpp"
#include "lmtcnn/reference/dense.hpp"
#include "lmtcnn/reference/elementwise.hpp"
#include "lmtcnn/reference/norm.hpp"
#include "lmtcnn/reference/pool.hpp"
