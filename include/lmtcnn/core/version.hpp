// lmtcnn's version (CMakeLists.txt's project version; the configure step checks that they agree).
#pragma once

#define LMTCNN_VERSION "0.1.0"
