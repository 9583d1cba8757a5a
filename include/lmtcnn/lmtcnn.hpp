// lmtcnn: everything in one include, except image files and the face pipeline
// (lmtcnn/io/image_io.hpp, lmtcnn/face/*.hpp), which compile stb_image into the including file.
//
// The public API, in namespace lmtcnn:
//   running networks   model<T> (a converted file, or a graph and weights; forward, forward_reference,
//                      self_test), lmtcnn_net<T> (LMTCNN-1-1/2-1 from checkpoint-named weights),
//                      graph_net<T>; simd_engine (a model's engine, with its own workspace)
//   SIMD paths         simd_paths, simd_path, set_simd_path (and LMTCNN_ISA in the environment);
//                      engine_net<Arch>, one instruction set chosen at compile time, is in
//                      lmtcnn/engine/engine.hpp
//   the face pipeline  face_analyzer, age_gender_estimator, face_detector, lmtcnn_estimator, their
//                      options, face_box, face_detection, face_result, age_gender, find_model
//   images             image, load_image, decode_image, image_limits, resample_bilinear_legacy
//   data               tensor<T>, tensor_view<T>, shape, tensor_map<T>, seeded::uniform/pixels
//   graphs             graph, graph_node, op_kind and the attribute structs (conv_attrs, ...),
//                      infer_shapes, lmtcnn_graph, faceapi_*_graph
//   weight files       weights_file, serialize_weights, write_weights_file, metadata, self_test_spec
//   threads, errors    thread_pool; error, shape_error, format_error
// Internal, and free to change between versions: namespace detail (with detail::ref, the reference ops,
// and detail::kernels, the SIMD kernels) and the file-format constants in namespace format.
#pragma once

#include "lmtcnn/core/error.hpp"
#include "lmtcnn/core/seeded.hpp"
#include "lmtcnn/core/tensor.hpp"
#include "lmtcnn/core/thread_pool.hpp"
#include "lmtcnn/core/version.hpp"
#include "lmtcnn/engine/dispatch.hpp"
#include "lmtcnn/engine/model.hpp"
#include "lmtcnn/format/weights_file.hpp"
#include "lmtcnn/graph/graph.hpp"
#include "lmtcnn/graph/graph_net.hpp"
#include "lmtcnn/graph/ops.hpp"
#include "lmtcnn/io/resize.hpp"
#include "lmtcnn/nets/faceapi.hpp"
#include "lmtcnn/nets/faceapi_landmarks.hpp"
#include "lmtcnn/nets/faceapi_ssd.hpp"
#include "lmtcnn/nets/lmtcnn.hpp"
