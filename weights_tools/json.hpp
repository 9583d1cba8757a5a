// A small strict JSON reader for TensorFlow.js weight manifests (RFC 8259 values; objects keep
// their key order). Limits on size and depth; every error names the byte offset.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "lmtcnn/core/error.hpp"

namespace lmtcnn_tools {

struct json {
  enum class kind { null, boolean, number, string, array, object };
  kind type = kind::null;
  bool b = false;
  double num = 0;
  std::string str;
  std::vector<json> items;                          // array
  std::vector<std::pair<std::string, json>> members;  // object

  /// The member with this key, or nullptr.
  const json* get(const std::string& key) const {
    for (const auto& [k, v] : members)
      if (k == key) return &v;
    return nullptr;
  }
  bool is(kind k) const { return type == k; }
};

class json_parser {
 public:
  static constexpr std::size_t max_bytes = 64u << 20;
  static constexpr int max_depth = 64;

  /// Parses a whole document; throws lmtcnn::error("<what>: JSON: ... at byte N").
  static json parse(const std::string& text, const std::string& what) {
    if (text.size() > max_bytes) throw lmtcnn::error(what + ": JSON document is larger than 64 MiB");
    json_parser p(text, what);
    p.ws();
    json v = p.value(0);
    p.ws();
    if (p.pos_ != text.size()) p.fail("unexpected characters after the document");
    return v;
  }

 private:
  json_parser(const std::string& t, const std::string& what) : t_(t), what_(what) {}

  [[noreturn]] void fail(const std::string& msg) const {
    throw lmtcnn::error(what_ + ": JSON: " + msg + " at byte " + std::to_string(pos_));
  }
  bool end() const { return pos_ >= t_.size(); }
  char peek() const { return end() ? '\0' : t_[pos_]; }
  void ws() {
    while (!end() && (t_[pos_] == ' ' || t_[pos_] == '\t' || t_[pos_] == '\n' || t_[pos_] == '\r')) ++pos_;
  }
  void expect(const char* word) {
    for (const char* c = word; *c; ++c, ++pos_)
      if (peek() != *c) fail(std::string("expected '") + word + "'");
  }

  json value(int depth) {
    if (depth > max_depth) fail("nesting deeper than 64");
    json v;
    switch (peek()) {
      case '{': {
        v.type = json::kind::object;
        ++pos_;
        ws();
        if (peek() == '}') {
          ++pos_;
          return v;
        }
        for (;;) {
          ws();
          if (peek() != '"') fail("expected a key");
          std::string key = string();
          ws();
          if (peek() != ':') fail("expected ':'");
          ++pos_;
          ws();
          v.members.emplace_back(std::move(key), value(depth + 1));
          ws();
          if (peek() == ',') {
            ++pos_;
            continue;
          }
          if (peek() == '}') {
            ++pos_;
            return v;
          }
          fail("expected ',' or '}'");
        }
      }
      case '[': {
        v.type = json::kind::array;
        ++pos_;
        ws();
        if (peek() == ']') {
          ++pos_;
          return v;
        }
        for (;;) {
          ws();
          v.items.push_back(value(depth + 1));
          ws();
          if (peek() == ',') {
            ++pos_;
            continue;
          }
          if (peek() == ']') {
            ++pos_;
            return v;
          }
          fail("expected ',' or ']'");
        }
      }
      case '"':
        v.type = json::kind::string;
        v.str = string();
        return v;
      case 't':
        expect("true");
        v.type = json::kind::boolean;
        v.b = true;
        return v;
      case 'f':
        expect("false");
        v.type = json::kind::boolean;
        return v;
      case 'n':
        expect("null");
        return v;
      default:
        v.type = json::kind::number;
        v.num = number();
        return v;
    }
  }

  double number() {
    const std::size_t start = pos_;
    if (peek() == '-') ++pos_;
    if (peek() == '0') {
      ++pos_;
    } else if (peek() >= '1' && peek() <= '9') {
      while (peek() >= '0' && peek() <= '9') ++pos_;
    } else {
      fail("expected a value");
    }
    if (peek() == '.') {
      ++pos_;
      if (!(peek() >= '0' && peek() <= '9')) fail("expected a digit after '.'");
      while (peek() >= '0' && peek() <= '9') ++pos_;
    }
    if (peek() == 'e' || peek() == 'E') {
      ++pos_;
      if (peek() == '+' || peek() == '-') ++pos_;
      if (!(peek() >= '0' && peek() <= '9')) fail("expected a digit in the exponent");
      while (peek() >= '0' && peek() <= '9') ++pos_;
    }
    const std::string s = t_.substr(start, pos_ - start);
    const double d = std::strtod(s.c_str(), nullptr);
    if (!std::isfinite(d)) fail("number out of range");
    return d;
  }

  static void utf8(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  std::uint32_t hex4() {
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i, ++pos_) {
      const char c = peek();
      v <<= 4;
      if (c >= '0' && c <= '9') v |= static_cast<std::uint32_t>(c - '0');
      else if (c >= 'a' && c <= 'f') v |= static_cast<std::uint32_t>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') v |= static_cast<std::uint32_t>(c - 'A' + 10);
      else fail("bad \\u escape");
    }
    return v;
  }

  std::string string() {
    ++pos_;  // opening quote
    std::string s;
    for (;;) {
      if (end()) fail("unterminated string");
      const char c = t_[pos_++];
      if (c == '"') return s;
      if (static_cast<unsigned char>(c) < 0x20) fail("control character in string");
      if (c != '\\') {
        s += c;
        continue;
      }
      if (end()) fail("unterminated string");
      const char e = t_[pos_++];
      switch (e) {
        case '"': s += '"'; break;
        case '\\': s += '\\'; break;
        case '/': s += '/'; break;
        case 'b': s += '\b'; break;
        case 'f': s += '\f'; break;
        case 'n': s += '\n'; break;
        case 'r': s += '\r'; break;
        case 't': s += '\t'; break;
        case 'u': {
          std::uint32_t cp = hex4();
          if (cp >= 0xD800 && cp < 0xDC00) {
            if (peek() != '\\') fail("lone surrogate");
            ++pos_;
            if (peek() != 'u') fail("lone surrogate");
            ++pos_;
            const std::uint32_t lo = hex4();
            if (lo < 0xDC00 || lo >= 0xE000) fail("bad surrogate pair");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else if (cp >= 0xDC00 && cp < 0xE000) {
            fail("lone surrogate");
          }
          utf8(s, cp);
          break;
        }
        default: --pos_; fail("bad escape");
      }
    }
  }

  const std::string& t_;
  std::string what_;
  std::size_t pos_ = 0;
};

}  // namespace lmtcnn_tools
