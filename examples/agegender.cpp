// agegender: age and gender of every face in photos.
// Run `agegender --help` for everything it does.
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <new>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include <lmtcnn/core/bytes.hpp>
#include <lmtcnn/core/version.hpp>
#include <lmtcnn/face/face_analyzer.hpp>
#include <lmtcnn/io/image_io.hpp>

#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#include <stb_image_write.h>
#include <stb_easy_font.h>

namespace fs = std::filesystem;

namespace {

const char* const help_text = R"(usage: agegender [options] PATH...

Finds the faces in photos and estimates the age and gender of each. A PATH is an image file
(JPEG, PNG or BMP), a directory, searched recursively for *.jpg, *.jpeg, *.png and *.bmp, or a
list file: *.txt holds one image path per line (a line that is not a file's path is read up to its
first space or tab, so LMTCNN's fold files "path age_label gender_label" work); *.csv and *.tsv have
a header line, then the path in the first comma- or tab-separated column. Relative paths in a list
are looked up from the current directory, then from the list's own; blank lines and lines starting
with # are skipped.

Faces (by default as face-api.js's detectAllFaces().withFaceLandmarks().withAgeAndGender()):
  --detector ssd|tiny|FILE
                       the face detector: face-api.js's SSD MobileNetV1 (default), its tiny face
                       detector, or a converted detector file of either kind
  --landmarks 68|68-tiny|none|FILE
                       the 68-point landmark net (68-tiny: the small one): age and gender are
                       read from the box aligned on the landmarks; none: from the face's box.
                       Default: 68 when detecting, none with --no-detect and --box
  --no-detect          the whole image is one face (for pre-cropped faces)
  --box X,Y,W,H        this box (pixels: left, top, width, height) is the face
  --input-size N       tiny detector input side, a multiple of 32 from 32 to 2048 (default 416;
                       larger finds smaller faces, more slowly)
  --min-score S        keep detections scoring above S, 0 < S < 1 (default 0.5)
  --max-faces N        at most N faces per image, the best scoring (default 100)
  --ignore-exif        keep a JPEG's pixels as stored; by default a photo whose Exif block gives an
                       orientation (phones store them sideways) is turned upright first, and
                       widths, heights and boxes are those of the upright photo

Models (converted .lmt files, see lmtcnn-convert):
  --model FILE         the age/gender network (default: age_gender.lmt, face-api.js's AgeGenderNet).
                       An LMTCNN-1-1 or LMTCNN-2-1 file uses LMTCNN's preprocessing (the face box
                       resized to 256x256, then to 227x227) and reports an age group.
  --oversample         LMTCNN: average the 12 crops (whole face and 5 crops of 227, each mirrored)
                       exactly as the original does: the whole face's mirror is not standardized
  --oversample=standardized
                       the same 12 crops, all standardized
  --divisor 256|255    face-api.js AgeGenderNet input scale: 256 as trained (default), 255 as the
                       @vladmandic fork does
  Default files (age_gender.lmt, ssd_mobilenetv1.lmt, tiny_face_detector.lmt, face_landmark_68.lmt,
  face_landmark_68_tiny.lmt) are looked for in $LMTCNN_MODEL_DIR, beside this program, in its models/ and
  ../models/ directories and in ../share/lmtcnn/models.

Output:
  (default)            a table on standard output
  --json               one JSON object per image, one per line:
                       {"file", "width", "height", "faces": [{"box": [x, y, w, h], "score",
                       "landmarks": [[x, y], ... 68 points] (or null), "aligned_box": [x, y, w, h]
                       (or null), "age" (years, or null), "age_group" (or null), "age_probs" (or
                       null), "gender": "male"|"female", "p_male", "p_female"}], "error": null or a
                       message}. "box" is the detector's; "score" is null when the face was not
                       detected (--no-detect, --box).
  --csv FILE           also write FILE, one row per face: file, face, x, y, width, height, score,
                       age (years), age_group, age_group_p, age_group_2, age_group_2_p (the best
                       and second-best LMTCNN age groups), gender, gender_p, error (a photo without
                       faces or that failed gets one row with face empty)
  --annotate DIR       also write each photo with its faces boxed, their landmarks dotted and
                       labelled ("F 31": female, 31 years) into DIR, as DIR/<name>.png
  --threads N          photos processed at once (default: the number of CPUs)
  --precision P        fp32 (default) or bf16: the convolutions and fully connected layers
                       multiply bf16 operands (faster where the CPU has AVX512_BF16; elsewhere a
                       few per cent slower). Ages and landmarks then move a little (see README)
  --quiet              no progress bar (it is shown on a terminal for 3 or more photos)
  --version            lmtcnn's version and the SIMD path the networks run on (set LMTCNN_ISA,
                       e.g. LMTCNN_ISA=avx2, to run a lower one)
  --help               this text

Every input is reported: one that cannot be read gets its error message (in the table, or in
"error" with --json) and the others are still processed. An image with no face is not an error.
Exit status: 0 all inputs processed, 1 some inputs failed, 2 usage error or a model that cannot
be loaded.
)";

void print_version() {
  std::string runs;
  for (const std::string& p : lmtcnn::simd_paths()) runs += (runs.empty() ? "" : ", ") + p;
  try {
    if (runs.empty())
      std::printf("agegender (lmtcnn %s)\nSIMD path: none, the scalar reference ops (built with LMTCNN_FORCE_REFERENCE)\n",
                  LMTCNN_VERSION);
    else
      std::printf("agegender (lmtcnn %s)\nSIMD path: %s (this CPU and build run: %s)\n", LMTCNN_VERSION,
                  lmtcnn::simd_path().c_str(), runs.c_str());
  } catch (const lmtcnn::error& e) {
    std::printf("agegender (lmtcnn %s)\nSIMD path: none: %s\n", LMTCNN_VERSION, e.what());
    std::exit(2);
  }
}

struct settings {
  lmtcnn::face_analyzer_options analyzer;
  std::string model, detector = "ssd", landmarks;  // landmarks "": 68 when detecting, else none
  bool json = false, quiet = false, no_detect = false, has_box = false, ignore_exif = false;
  std::string annotate_dir, csv_path;
  unsigned threads = 0;
  std::vector<std::string> paths;
};

[[noreturn]] void usage_error(const std::string& msg) {
  std::fprintf(stderr, "agegender: %s\nRun 'agegender --help' for the options.\n", msg.c_str());
  std::exit(2);
}

double parse_number(const std::string& opt, const std::string& text) {
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || errno == ERANGE || !std::isfinite(v))
    usage_error(opt + " takes a number, not '" + text + "'");
  return v;
}

long parse_whole(const std::string& opt, const std::string& text, long lo, long hi) {
  const double v = parse_number(opt, text);
  if (v != std::floor(v) || v < static_cast<double>(lo) || v > static_cast<double>(hi))
    usage_error(opt + " takes a whole number from " + std::to_string(lo) + " to " + std::to_string(hi) + ", not '" +
                text + "'");
  return static_cast<long>(v);
}

settings parse(int argc, char** argv) {
  settings s;
  s.analyzer.detection.max_faces = 100;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage_error(a + " needs a value");
      return argv[++i];
    };
    if (a == "--help" || a == "-h") {
      std::fputs(help_text, stdout);
      std::exit(0);
    } else if (a == "--version") {
      print_version();
      std::exit(0);
    } else if (a == "--ignore-exif") {
      s.ignore_exif = true;
    } else if (a == "--no-detect") {
      s.no_detect = true;
    } else if (a == "--box") {
      const std::string v = value();
      double b[4];
      std::size_t pos = 0;
      for (int k = 0; k < 4; ++k) {
        const std::size_t comma = k < 3 ? v.find(',', pos) : v.size();
        if (comma == std::string::npos) usage_error("--box takes X,Y,W,H, not '" + v + "'");
        b[k] = parse_number("--box", v.substr(pos, comma - pos));
        pos = comma + 1;
      }
      if (!(b[2] > 0 && b[3] > 0)) usage_error("--box width and height must be positive, not '" + v + "'");
      s.analyzer.box = {b[0], b[1], b[2], b[3]};
      s.has_box = true;
    } else if (a == "--input-size") {
      const long n = parse_whole(a, value(), 32, 2048);
      if (n % 32) usage_error("--input-size must be a multiple of 32, not " + std::to_string(n));
      s.analyzer.detection.input_size = n;
    } else if (a == "--min-score") {
      const double v = parse_number(a, value());
      if (!(v > 0 && v < 1)) usage_error("--min-score must lie between 0 and 1");
      s.analyzer.detection.score_threshold = v;
      s.analyzer.ssd.min_confidence = v;
    } else if (a == "--max-faces") {
      s.analyzer.detection.max_faces = static_cast<std::size_t>(parse_whole(a, value(), 1, 100000));
      s.analyzer.ssd.max_results = s.analyzer.detection.max_faces;
    } else if (a == "--landmarks") {
      s.landmarks = value();
      if (s.landmarks.empty()) usage_error("--landmarks takes 68, 68-tiny, none or a file");
    } else if (a == "--model") {
      s.model = value();
    } else if (a == "--detector") {
      s.detector = value();
      if (s.detector.empty()) usage_error("--detector takes ssd, tiny or a file");
    } else if (a == "--oversample") {
      s.analyzer.oversample = true;
    } else if (a == "--oversample=standardized") {
      s.analyzer.oversample = true;
      s.analyzer.oversample_standardized = true;
    } else if (a == "--divisor") {
      const std::string v = value();
      if (v != "256" && v != "255") usage_error("--divisor takes 256 or 255, not '" + v + "'");
      s.analyzer.divisor = v == "256" ? 256.0 : 255.0;
    } else if (a == "--json") {
      s.json = true;
    } else if (a == "--annotate") {
      s.annotate_dir = value();
    } else if (a == "--csv") {
      s.csv_path = value();
    } else if (a == "--threads") {
      s.threads = static_cast<unsigned>(parse_whole(a, value(), 1, 256));
    } else if (a == "--quiet") {
      s.quiet = true;
    } else if (a == "--precision") {
      const std::string v = value();
      try {
        lmtcnn::set_precision(lmtcnn::parse_precision(v));
      } catch (const lmtcnn::error& e) {
        usage_error(std::string("--precision: ") + e.what());
      }
    } else if (a == "--") {
      for (++i; i < argc; ++i) s.paths.emplace_back(argv[i]);
    } else if (a.size() > 1 && a[0] == '-') {
      usage_error("unknown option '" + a + "'");
    } else {
      s.paths.push_back(a);
    }
  }
  if (s.paths.empty()) usage_error("no photo given");
  if (s.no_detect && s.has_box) usage_error("--no-detect and --box exclude each other");
  s.analyzer.source = s.no_detect ? lmtcnn::face_source::whole_image
                      : s.has_box ? lmtcnn::face_source::given_box
                                  : lmtcnn::face_source::detect;
  return s;
}

// ---- inputs ----

struct input {
  std::string path;
  std::string error;  // set when the path itself is already known to be unusable
};

std::string lower_extension(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext;
}

bool is_image_name(const fs::path& p) {
  const std::string ext = lower_extension(p);
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png" || ext == ".bmp";
}

bool is_list_name(const fs::path& p) {
  const std::string ext = lower_extension(p);
  return ext == ".txt" || ext == ".csv" || ext == ".tsv";
}

/// The image paths a list file names, in order (see the help text); an input with an error when the
/// list cannot be read.
std::vector<input> read_list(const std::string& list) {
  constexpr std::uintmax_t max_bytes = 64u << 20;
  std::error_code ec;
  const std::uintmax_t size = fs::file_size(list, ec);
  if (ec) return {{list, "cannot read the list file (" + ec.message() + ")"}};
  if (size > max_bytes) return {{list, "list file larger than 64 MiB"}};
  std::ifstream in(list, std::ios::binary);
  if (!in) return {{list, "cannot read the list file"}};
  const std::string ext = lower_extension(list);
  const char sep = ext == ".csv" ? ',' : '\t';
  const bool header = ext != ".txt";
  const fs::path dir = fs::path(list).parent_path();
  std::vector<input> out;
  std::string line;
  for (bool first = true; std::getline(in, line); first = false) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (first && header) continue;
    if (line.empty() || line[0] == '#') continue;
    std::string path = line;
    if (header) {
      path = line.substr(0, line.find(sep));
      if (path.size() >= 2 && path.front() == '"' && path.back() == '"') path = path.substr(1, path.size() - 2);
    } else if (!fs::is_regular_file(path, ec)) {
      path = line.substr(0, line.find_first_of(" \t"));
    }
    if (path.empty()) continue;
    if (fs::path(path).is_relative() && !fs::exists(path, ec) && fs::exists(dir / path, ec)) path = (dir / path).string();
    out.push_back({path, {}});
  }
  if (in.bad()) return {{list, "cannot read the list file"}};
  if (out.empty()) out.push_back({list, "the list file names no image"});
  return out;
}

std::vector<input> expand(const std::vector<std::string>& paths) {
  std::vector<input> out;
  for (const std::string& p : paths) {
    std::error_code ec;
    const fs::file_status st = fs::status(p, ec);
    if (!ec && fs::is_regular_file(st) && is_list_name(p)) {
      for (input& i : read_list(p)) out.push_back(std::move(i));
    } else if (ec || !fs::exists(st)) {
      out.push_back({p, "cannot open (" + (ec ? ec.message() : std::string("No such file or directory")) + ")"});
    } else if (fs::is_directory(st)) {
      std::vector<std::string> found;
      fs::recursive_directory_iterator it(p, fs::directory_options::skip_permission_denied, ec), end;
      for (; !ec && it != end; it.increment(ec)) {
        std::error_code ec2;
        if (it->is_regular_file(ec2) && is_image_name(it->path())) found.push_back(it->path().string());
      }
      if (ec) {
        out.push_back({p, "cannot read the directory (" + ec.message() + ")"});
        continue;
      }
      std::sort(found.begin(), found.end());
      if (found.empty()) out.push_back({p, "no JPEG, PNG or BMP images in this directory"});
      for (const std::string& f : found) out.push_back({f, {}});
    } else {
      out.push_back({p, {}});
    }
  }
  return out;
}

// ---- annotation ----

struct rgb {
  unsigned char r, g, b;
};

void fill_rect(lmtcnn::image& img, long x0, long y0, long x1, long y1, rgb c) {  // [x0, x1) x [y0, y1)
  x0 = std::max(x0, 0L);
  y0 = std::max(y0, 0L);
  x1 = std::min(x1, static_cast<long>(img.width));
  y1 = std::min(y1, static_cast<long>(img.height));
  for (long y = y0; y < y1; ++y)
    for (long x = x0; x < x1; ++x) {
      unsigned char* p = &img.rgb[(static_cast<std::size_t>(y) * static_cast<std::size_t>(img.width) + static_cast<std::size_t>(x)) * 3];
      p[0] = c.r;
      p[1] = c.g;
      p[2] = c.b;
    }
}

/// Text with stb_easy_font's segment font, scaled; (x, y) is the top-left corner.
void draw_text(lmtcnn::image& img, long x, long y, const std::string& text, long scale, rgb c) {
  std::vector<char> buf(text.size() * 300 + 64);
  std::vector<char> t(text.begin(), text.end());
  t.push_back('\0');
  unsigned char color[4] = {255, 255, 255, 255};
  const int quads = stb_easy_font_print(0, 0, t.data(), color, buf.data(), static_cast<int>(buf.size()));
  for (int q = 0; q < quads; ++q) {
    float v[4][2];
    for (int k = 0; k < 4; ++k) std::memcpy(v[k], buf.data() + (q * 4 + k) * 16, 2 * sizeof(float));
    const float qx0 = std::min({v[0][0], v[1][0], v[2][0], v[3][0]}), qx1 = std::max({v[0][0], v[1][0], v[2][0], v[3][0]});
    const float qy0 = std::min({v[0][1], v[1][1], v[2][1], v[3][1]}), qy1 = std::max({v[0][1], v[1][1], v[2][1], v[3][1]});
    fill_rect(img, x + std::lround(qx0 * static_cast<float>(scale)), y + std::lround(qy0 * static_cast<float>(scale)),
              x + std::lround(qx1 * static_cast<float>(scale)), y + std::lround(qy1 * static_cast<float>(scale)), c);
  }
}

std::string short_label(const lmtcnn::face_result& f) {
  std::string s = f.male() ? "M" : "F";
  if (f.age_years) s += " " + std::to_string(static_cast<long>(std::lround(*f.age_years)));
  if (!f.age_group.empty()) s += " " + f.age_group;
  return s;
}

void annotate(lmtcnn::image img, const std::vector<lmtcnn::face_result>& faces, const std::string& out_path) {
  const long side = std::min(img.width, img.height);
  const long thick = std::max(2L, side / 300);
  const long scale = std::max(2L, side / 250);
  for (const lmtcnn::face_result& f : faces) {
    const rgb c = f.male() ? rgb{40, 120, 255} : rgb{255, 60, 160};
    const long x0 = std::lround(f.box.x), y0 = std::lround(f.box.y);
    const long x1 = std::lround(f.box.x + f.box.width), y1 = std::lround(f.box.y + f.box.height);
    fill_rect(img, x0, y0, x1, y0 + thick, c);
    fill_rect(img, x0, y1 - thick, x1, y1, c);
    fill_rect(img, x0, y0, x0 + thick, y1, c);
    fill_rect(img, x1 - thick, y0, x1, y1, c);
    for (const lmtcnn::face_point& p : f.landmarks) {  // a dot of the box's line width per point
      const long px = std::lround(p.x), py = std::lround(p.y);
      fill_rect(img, px - thick, py - thick, px + thick, py + thick, rgb{255, 230, 0});
    }
    const std::string label = short_label(f);
    std::vector<char> t(label.begin(), label.end());
    t.push_back('\0');
    const long tw = stb_easy_font_width(t.data()) * scale, th = 8 * scale;
    const long lx = std::clamp(x0, 0L, std::max(0L, static_cast<long>(img.width) - tw - 2 * scale));
    const long ly = std::clamp(y0 - th - 2 * scale, 0L, std::max(0L, static_cast<long>(img.height) - th - 2 * scale));
    fill_rect(img, lx, ly, lx + tw + 2 * scale, ly + th + 2 * scale, c);
    draw_text(img, lx + scale, ly + scale + scale / 2, label, scale, rgb{255, 255, 255});
  }
  // PNG, not JPEG: stb_image_write 1.16's JPEG encoder shifts negative ints (undefined behaviour in C++17)
  if (!stbi_write_png(out_path.c_str(), img.width, img.height, 3, img.rgb.data(), img.width * 3)) throw lmtcnn::error("cannot write the annotated image " + out_path);
}

// ---- results ----

struct outcome {
  std::string file;
  int width = 0, height = 0;
  std::vector<lmtcnn::face_result> faces;
  std::string error;
  std::string warning;  // an Exif block that was ignored
};

/// The message of an error without the file name it starts with (the output names the file already).
std::string without_name(const std::string& msg, const std::string& path) {
  if (msg.compare(0, path.size() + 2, path + ": ") == 0) return msg.substr(path.size() + 2);
  return msg;
}

outcome process(const lmtcnn::face_analyzer& fa, const input& in, const std::string& annotate_path, bool exif_upright) {
  outcome o;
  o.file = in.path;
  if (!in.error.empty()) {
    o.error = in.error;
    return o;
  }
  try {
    const lmtcnn::image img = lmtcnn::load_image(in.path, {}, exif_upright);
    o.warning = img.warning;
    o.width = img.width;
    o.height = img.height;
    o.faces = fa.analyze(img);
    if (!annotate_path.empty()) annotate(img, o.faces, annotate_path);
  } catch (const std::bad_alloc&) {
    o.error = "out of memory";
  } catch (const std::exception& e) {
    o.error = without_name(e.what(), in.path);
  }
  return o;
}

std::string json_string(const std::string& s) { return lmtcnn::detail::json_quote(s); }

std::string json_number(double v) {
  if (!std::isfinite(v)) return "null";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

std::string to_json(const outcome& o) {
  std::string s = "{\"file\": " + json_string(o.file) + ", \"width\": " + std::to_string(o.width) +
                  ", \"height\": " + std::to_string(o.height) + ", \"faces\": [";
  for (std::size_t i = 0; i < o.faces.size(); ++i) {
    const lmtcnn::face_result& f = o.faces[i];
    s += i ? ", " : "";
    s += "{\"box\": [" + json_number(f.box.x) + ", " + json_number(f.box.y) + ", " + json_number(f.box.width) + ", " +
         json_number(f.box.height) + "], \"score\": " + (f.score ? json_number(*f.score) : "null") + ", \"landmarks\": ";
    if (f.landmarks.empty()) {
      s += "null";
    } else {
      s += "[";
      for (std::size_t k = 0; k < f.landmarks.size(); ++k)
        s += (k ? ", [" : "[") + json_number(f.landmarks[k].x) + ", " + json_number(f.landmarks[k].y) + "]";
      s += "]";
    }
    s += ", \"aligned_box\": ";
    if (f.aligned_box) {
      const lmtcnn::face_box& b = *f.aligned_box;
      s += "[" + json_number(b.x) + ", " + json_number(b.y) + ", " + json_number(b.width) + ", " + json_number(b.height) + "]";
    } else {
      s += "null";
    }
    s += std::string("") +
         ", \"age\": " + (f.age_years ? json_number(*f.age_years) : "null") +
         ", \"age_group\": " + (f.age_group.empty() ? "null" : json_string(f.age_group)) + ", \"age_probs\": ";
    if (f.age_probs.empty()) {
      s += "null";
    } else {
      s += "[";
      for (std::size_t k = 0; k < f.age_probs.size(); ++k) s += (k ? ", " : "") + json_number(f.age_probs[k]);
      s += "]";
    }
    s += std::string(", \"gender\": ") + (f.male() ? "\"male\"" : "\"female\"") + ", \"p_male\": " + json_number(f.p_male) +
         ", \"p_female\": " + json_number(f.p_female) + "}";
  }
  s += "], \"error\": " + (o.error.empty() ? std::string("null") : json_string(o.error)) + "}\n";
  return s;
}

/// The best and second-best age groups of a classification result (indices into age_probs).
std::pair<std::size_t, std::size_t> two_best(const std::vector<double>& p) {
  std::size_t best = 0, second = p.size() > 1 ? 1 : 0;
  for (std::size_t k = 0; k < p.size(); ++k)
    if (p[k] > p[best]) best = k;
  if (second == best && p.size() > 1) second = best == 0 ? 1 : 0;
  for (std::size_t k = 0; k < p.size(); ++k)
    if (k != best && p[k] > p[second]) second = k;
  return {best, second};
}

/// One CSV field (RFC 4180: quoted when it holds a comma, quote or line break).
std::string csv_field(const std::string& v) {
  if (v.find_first_of(",\"\r\n") == std::string::npos) return v;
  std::string q = "\"";
  for (char c : v) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

const char* const csv_header = "file,face,x,y,width,height,score,age,age_group,age_group_p,age_group_2,age_group_2_p,gender,gender_p,error\n";

std::string to_csv(const outcome& o, const std::vector<std::string>& groups) {
  auto num = [](double v) { return json_number(v); };
  if (!o.error.empty() || o.faces.empty()) return csv_field(o.file) + ",,,,,,,,,,,,,," + csv_field(o.error) + "\n";
  std::string s;
  for (std::size_t i = 0; i < o.faces.size(); ++i) {
    const lmtcnn::face_result& f = o.faces[i];
    std::string age_groups = ",,,";
    if (!f.age_probs.empty()) {
      const auto [b, c] = two_best(f.age_probs);
      auto name = [&](std::size_t k) { return k < groups.size() ? groups[k] : std::to_string(k); };
      age_groups = csv_field(name(b)) + "," + num(f.age_probs[b]) + "," + csv_field(name(c)) + "," + num(f.age_probs[c]);
    }
    s += csv_field(o.file) + "," + std::to_string(i + 1) + "," + num(f.box.x) + "," + num(f.box.y) + "," + num(f.box.width) +
         "," + num(f.box.height) + "," + (f.score ? num(*f.score) : "") + "," + (f.age_years ? num(*f.age_years) : "") +
         "," + age_groups + "," + (f.male() ? "male" : "female") + "," + num(f.male() ? f.p_male : f.p_female) + ",\n";
  }
  return s;
}

std::string to_table(const outcome& o, const std::vector<std::string>& groups) {
  char buf[512];
  std::string s = o.file;
  if (!o.error.empty()) return s + "  error: " + o.error + "\n";
  std::snprintf(buf, sizeof buf, "  %dx%d  ", o.width, o.height);
  s += buf;
  if (o.faces.empty()) return s + "no face found\n";
  s += std::to_string(o.faces.size()) + (o.faces.size() == 1 ? " face\n" : " faces\n");
  s += "  face  box (x, y, w, h)              score  age               gender  p(gender)\n";
  for (std::size_t i = 0; i < o.faces.size(); ++i) {
    const lmtcnn::face_result& f = o.faces[i];
    char box[96], score[16], age[48];
    std::snprintf(box, sizeof box, "%.0f, %.0f, %.0f, %.0f", f.box.x, f.box.y, f.box.width, f.box.height);
    if (f.score)
      std::snprintf(score, sizeof score, "%.2f", *f.score);
    else
      std::snprintf(score, sizeof score, "-");
    if (f.age_years) {
      std::snprintf(age, sizeof age, "%.1f years", *f.age_years);
    } else {
      const std::size_t best = two_best(f.age_probs).first;
      std::snprintf(age, sizeof age, "%s (%.2f)", f.age_group.c_str(), f.age_probs.empty() ? 0.0 : f.age_probs[best]);
    }
    std::snprintf(buf, sizeof buf, "  %-4zu  %-28s  %-5s  %-16s  %-6s  %.2f", i + 1, box, score, age,
                  f.male() ? "male" : "female", f.male() ? f.p_male : f.p_female);
    s += buf;
    if (f.age_probs.size() > 2) {  // LMTCNN: the second-best age group too, as the original's "Guess @ 2"
      const std::size_t second = two_best(f.age_probs).second;
      std::snprintf(buf, sizeof buf, "  2nd: %s (%.2f)", (second < groups.size() ? groups[second] : std::to_string(second)).c_str(), f.age_probs[second]);
      s += buf;
    }
    s += "\n";
  }
  return s;
}

/// Output names for the annotated photos: DIR/<name>.png, made unique in input order.
std::vector<std::string> annotate_paths(const std::vector<input>& inputs, const std::string& dir) {
  std::vector<std::string> out(inputs.size());
  if (dir.empty()) return out;
  std::set<std::string> taken;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].error.empty()) continue;
    const fs::path p(inputs[i].path);
    std::string name = p.stem().string() + ".png";
    for (int k = 2; taken.count(name); ++k) name = p.stem().string() + "-" + std::to_string(k) + ".png";
    taken.insert(name);
    out[i] = (fs::path(dir) / name).string();
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  settings s = parse(argc, argv);
  std::unique_ptr<lmtcnn::face_analyzer> fa;
  try {
    s.analyzer.model = s.model.empty() ? lmtcnn::find_model("age_gender.lmt", argv[0]) : s.model;
    if (s.analyzer.source == lmtcnn::face_source::detect)
      s.analyzer.detector = s.detector == "ssd"    ? lmtcnn::find_model("ssd_mobilenetv1.lmt", argv[0])
                            : s.detector == "tiny" ? lmtcnn::find_model("tiny_face_detector.lmt", argv[0])
                                                   : s.detector;
    if (s.landmarks.empty()) s.landmarks = s.analyzer.source == lmtcnn::face_source::detect ? "68" : "none";
    s.analyzer.landmarks = s.landmarks == "68"        ? lmtcnn::find_model("face_landmark_68.lmt", argv[0])
                           : s.landmarks == "68-tiny" ? lmtcnn::find_model("face_landmark_68_tiny.lmt", argv[0])
                           : s.landmarks == "none"    ? std::string()
                                                      : s.landmarks;
    fa = std::make_unique<lmtcnn::face_analyzer>(s.analyzer);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "agegender: %s\n", e.what());
    return 2;
  }
  if (!s.annotate_dir.empty()) {
    std::error_code ec;
    fs::create_directories(s.annotate_dir, ec);
    if (ec || !fs::is_directory(s.annotate_dir)) {
      std::fprintf(stderr, "agegender: cannot create the directory %s for --annotate (%s)\n", s.annotate_dir.c_str(),
                   ec ? ec.message().c_str() : "not a directory");
      return 2;
    }
  }

  std::ofstream csv;
  if (!s.csv_path.empty()) {
    csv.open(s.csv_path, std::ios::binary | std::ios::trunc);
    if (!csv) {
      std::fprintf(stderr, "agegender: cannot create %s for --csv (%s)\n", s.csv_path.c_str(), std::strerror(errno));
      return 2;
    }
    csv << csv_header;
  }
  const std::vector<input> inputs = expand(s.paths);
  const std::vector<std::string> annotated = annotate_paths(inputs, s.annotate_dir);
  const std::size_t n = inputs.size();
  unsigned threads = s.threads ? s.threads : std::max(1u, std::thread::hardware_concurrency());
  threads = static_cast<unsigned>(std::min<std::size_t>(threads, n));
  const bool progress = !s.quiet && n >= 3 && ::isatty(STDERR_FILENO);

  std::vector<outcome> results(n);
  std::vector<char> done(n, 0);
  std::mutex m;
  std::condition_variable cv;
  std::atomic<std::size_t> next{0};
  std::vector<std::thread> workers;
  for (unsigned t = 0; t < threads; ++t)
    workers.emplace_back([&] {
      for (std::size_t i; (i = next.fetch_add(1)) < n;) {
        outcome o = process(*fa, inputs[i], annotated[i], !s.ignore_exif);
        {
          std::lock_guard<std::mutex> lock(m);
          results[i] = std::move(o);
          done[i] = 1;
        }
        cv.notify_one();
      }
    });

  std::size_t failed = 0, finished = 0;
  auto draw_progress = [&] {
    const int width = 30;
    const int filled = static_cast<int>(width * finished / n);
    std::fprintf(stderr, "\r[%s%s] %zu/%zu photos", std::string(static_cast<std::size_t>(filled), '#').c_str(),
                 std::string(static_cast<std::size_t>(width - filled), '.').c_str(), finished, n);
    std::fflush(stderr);
  };
  if (progress) draw_progress();
  for (std::size_t i = 0; i < n; ++i) {
    outcome o;
    {
      std::unique_lock<std::mutex> lock(m);
      cv.wait(lock, [&] { return done[i] != 0; });
      o = std::move(results[i]);
    }
    ++finished;
    if (!o.error.empty()) ++failed;
    if (progress) std::fputs("\r\033[K", stderr);
    if (!o.warning.empty()) std::fprintf(stderr, "agegender: %s: warning: %s\n", o.file.c_str(), o.warning.c_str());
    const std::string text = s.json ? to_json(o) : to_table(o, fa->age_groups());
    std::fputs(text.c_str(), stdout);
    if (csv.is_open()) {
      csv << to_csv(o, fa->age_groups());
      csv.flush();
    }
    std::fflush(stdout);
    if (progress && finished < n) draw_progress();
  }
  for (std::thread& t : workers) t.join();
  if (csv.is_open() && !csv.flush()) {
    std::fprintf(stderr, "agegender: cannot write %s\n", s.csv_path.c_str());
    return 1;
  }
  return failed ? 1 : 0;
}
