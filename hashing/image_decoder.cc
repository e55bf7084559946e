#include "hashing/image_decoder.h"

#include <algorithm>
#include <csetjmp>
#include <cstdio>
#include <cstring>

#include <jpeglib.h>
// jerror.h needs jpeglib.h first.
#include <jerror.h>
#include <png.h>

#include "absl/strings/str_cat.h"

// Both libjpeg and libpng report fatal errors by longjmp. Each function below that calls setjmp owns no
// object with a destructor (C++ objects live in the caller), so a longjmp skips no destructor.

namespace hashbank {
namespace {

constexpr int kMaxProgressiveScans = 500;  // real files use ~10; thousands are a CPU-exhaustion attack

bool StartsWith(std::span<const uint8_t> data, std::string_view magic) {
  return data.size() >= magic.size() && std::memcmp(data.data(), magic.data(), magic.size()) == 0;
}

// Names formats we recognise but do not decode, so the error is specific.
const char* RecognisedUnsupportedFormat(std::span<const uint8_t> data) {
  if (StartsWith(data, "GIF87a") || StartsWith(data, "GIF89a")) return "GIF";
  if (StartsWith(data, "BM")) return "BMP";
  if (StartsWith(data, std::string_view("II*\0", 4)) || StartsWith(data, std::string_view("MM\0*", 4))) {
    return "TIFF";
  }
  if (data.size() >= 12 && std::memcmp(data.data(), "RIFF", 4) == 0 &&
      std::memcmp(data.data() + 8, "WEBP", 4) == 0) {
    return "WebP";
  }
  if (data.size() >= 12 && std::memcmp(data.data() + 4, "ftyp", 4) == 0) return "HEIF/AVIF";
  return nullptr;
}

// Receives decoded rows top to bottom at full width and area-averages them to out_w x out_h (each side at most
// the input's: never upscales). Integer arithmetic only: every source pixel belongs to exactly one output pixel
// (x * out_w / w, y * out_h / h) and an output sample is its sources' rounded mean. One output channel is luma,
// (77 R + 150 G + 29 B + 128) >> 8 per source pixel; three are R, G, B (a grey source gives R = G = B). The
// same bytes on every machine and in WebAssembly.
class AreaDownsampler {
 public:
  void Start(int width, int height, int channels, int out_channels, int out_w, int out_h, std::vector<uint8_t>* out) {
    out_ = out;
    if (out_ == nullptr) return;
    width_ = width;
    height_ = height;
    channels_ = channels;
    out_channels_ = out_channels;
    out_w_ = out_w;
    out_h_ = out_h;
    const size_t ow = static_cast<size_t>(out_w);
    out_->assign(ow * static_cast<size_t>(out_h) * static_cast<size_t>(out_channels), 0);
    column_.resize(static_cast<size_t>(width));
    column_count_.assign(ow, 0);
    for (int x = 0; x < width; ++x) {
      const auto ox = static_cast<uint32_t>(int64_t{x} * out_w / width);
      column_[static_cast<size_t>(x)] = ox;
      ++column_count_[ox];
    }
    sums_.assign(ow * static_cast<size_t>(out_channels), 0);
    input_row_ = 0;
    current_out_row_ = 0;
    rows_in_current_ = 0;
  }

  void AddRow(const uint8_t* row) {
    if (out_ == nullptr) return;
    const int out_row = static_cast<int>(int64_t{input_row_} * out_h_ / height_);
    if (out_row != current_out_row_) Flush();
    current_out_row_ = out_row;
    const size_t w = static_cast<size_t>(width_);
    if (out_channels_ == 1 && channels_ == 1) {
      for (size_t x = 0; x < w; ++x) sums_[column_[x]] += row[x];
    } else if (out_channels_ == 1) {
      for (size_t x = 0; x < w; ++x) {
        const uint8_t* p = row + 3 * x;
        sums_[column_[x]] += (77u * p[0] + 150u * p[1] + 29u * p[2] + 128u) >> 8;
      }
    } else if (channels_ == 1) {
      for (size_t x = 0; x < w; ++x) {
        uint64_t* s = &sums_[3 * size_t{column_[x]}];
        s[0] += row[x];
        s[1] += row[x];
        s[2] += row[x];
      }
    } else {
      for (size_t x = 0; x < w; ++x) {
        const uint8_t* p = row + 3 * x;
        uint64_t* s = &sums_[3 * size_t{column_[x]}];
        s[0] += p[0];
        s[1] += p[1];
        s[2] += p[2];
      }
    }
    ++rows_in_current_;
    ++input_row_;
  }

  void Finish() {
    if (out_ != nullptr) Flush();
  }

 private:
  void Flush() {
    if (rows_in_current_ == 0) return;
    const size_t oc = static_cast<size_t>(out_channels_);
    uint8_t* dst = out_->data() + static_cast<size_t>(current_out_row_) * static_cast<size_t>(out_w_) * oc;
    for (size_t i = 0; i < sums_.size(); ++i) {
      const uint64_t count = uint64_t{column_count_[i / oc]} * rows_in_current_;
      dst[i] = static_cast<uint8_t>((sums_[i] + count / 2) / count);
      sums_[i] = 0;
    }
    rows_in_current_ = 0;
  }

  std::vector<uint8_t>* out_ = nullptr;
  int width_ = 0, height_ = 0, channels_ = 0, out_channels_ = 1, out_w_ = 0, out_h_ = 0;
  std::vector<uint32_t> column_;        // source column -> output column
  std::vector<uint32_t> column_count_;  // source columns per output column
  std::vector<uint64_t> sums_;          // per output column and channel
  int input_row_ = 0, current_out_row_ = 0;
  uint32_t rows_in_current_ = 0;
};

// The luma image for local features: aspect kept, the long side at most `long_side`.
void StartGrey(int width, int height, int channels, GreyImage* grey, int long_side, AreaDownsampler* d) {
  if (grey == nullptr) {
    d->Start(width, height, channels, 1, 0, 0, nullptr);
    return;
  }
  const int64_t longest = std::max(width, height);
  if (longest <= long_side) {
    grey->width = width;
    grey->height = height;
  } else {
    grey->width = static_cast<int>(std::max<int64_t>(1, (int64_t{width} * long_side + longest / 2) / longest));
    grey->height = static_cast<int>(std::max<int64_t>(1, (int64_t{height} * long_side + longest / 2) / longest));
  }
  d->Start(width, height, channels, 1, grey->width, grey->height, &grey->pixels);
}

// The model input: area-averaged to at most rgb_width x rgb_height here; UpscaleRgb finishes it.
void StartRgb(int width, int height, int channels, const DecodeOutputs& extra, AreaDownsampler* d) {
  if (extra.rgb == nullptr) {
    d->Start(width, height, channels, 3, 0, 0, nullptr);
    return;
  }
  extra.rgb->width = std::min(width, extra.rgb_width);
  extra.rgb->height = std::min(height, extra.rgb_height);
  d->Start(width, height, channels, 3, extra.rgb->width, extra.rgb->height, &extra.rgb->pixels);
}

// Nearest-neighbour upscale of the area-averaged model input to exactly width x height: output (x, y) takes
// (x * w / width, y * h / height). Identity on a side already at its size.
void UpscaleRgb(int width, int height, RgbImage* img) {
  if (img->width == width && img->height == height) return;
  std::vector<uint8_t> out(static_cast<size_t>(width) * static_cast<size_t>(height) * 3);
  for (int y = 0; y < height; ++y) {
    const size_t sy = static_cast<size_t>(int64_t{y} * img->height / height);
    for (int x = 0; x < width; ++x) {
      const size_t sx = static_cast<size_t>(int64_t{x} * img->width / width);
      const uint8_t* s = img->pixels.data() + (sy * static_cast<size_t>(img->width) + sx) * 3;
      uint8_t* d = out.data() + (static_cast<size_t>(y) * static_cast<size_t>(width) + static_cast<size_t>(x)) * 3;
      d[0] = s[0];
      d[1] = s[1];
      d[2] = s[2];
    }
  }
  img->pixels = std::move(out);
  img->width = width;
  img->height = height;
}

// Receives decoded rows top to bottom at full width, keeps what the reference would hash: every row when
// both sides are <= 512, else the nearest-neighbour 512 x 512 sample. Tracks whether every pixel is grey.
class RowSampler {
 public:
  // `extra` names the optional images made in the same pass (DecodeOutputs).
  void Start(int width, int height, int channels, PreparedImage* out, const DecodeOutputs& extra) {
    StartGrey(width, height, channels, extra.grey, extra.grey_long_side, &grey_);
    StartRgb(width, height, channels, extra, &rgb_);
    width_ = width;
    height_ = height;
    channels_ = channels;
    out_ = out;
    resize_ = width > kPdqPreResize || height > kPdqPreResize;
    out->original_width = width;
    out->original_height = height;
    out->width = resize_ ? kPdqPreResize : width;
    out->height = resize_ ? kPdqPreResize : height;
    out->channels = channels;
    out->pixels.resize(static_cast<size_t>(out->width) * static_cast<size_t>(out->height) *
                       static_cast<size_t>(channels));
    src_x_.clear();
    if (resize_) {
      src_x_.resize(kPdqPreResize);
      for (int x = 0; x < kPdqPreResize; ++x) {
        src_x_[static_cast<size_t>(x)] = static_cast<int>(int64_t{x} * width / kPdqPreResize);
      }
    }
    next_out_row_ = 0;
    input_row_ = 0;
    all_grey_ = channels == 3;
  }

  void AddRow(const uint8_t* row) {
    const size_t c = static_cast<size_t>(channels_);
    if (all_grey_) all_grey_ = RowIsGrey(row);
    grey_.AddRow(row);
    rgb_.AddRow(row);
    const size_t out_row_bytes = static_cast<size_t>(out_->width) * c;
    while (next_out_row_ < out_->height && SourceRow(next_out_row_) == input_row_) {
      uint8_t* dst = out_->pixels.data() + static_cast<size_t>(next_out_row_) * out_row_bytes;
      if (!resize_) {
        std::memcpy(dst, row, out_row_bytes);
      } else if (c == 1) {
        for (size_t x = 0; x < kPdqPreResize; ++x) dst[x] = row[static_cast<size_t>(src_x_[x])];
      } else {
        for (size_t x = 0; x < kPdqPreResize; ++x) {
          const uint8_t* s = row + static_cast<size_t>(src_x_[x]) * 3;
          dst[3 * x] = s[0];
          dst[3 * x + 1] = s[1];
          dst[3 * x + 2] = s[2];
        }
      }
      ++next_out_row_;
    }
    ++input_row_;
  }

  // Collapses to one channel if every decoded pixel was grey (ImageMagick's P5 output).
  void Finish() {
    grey_.Finish();
    rgb_.Finish();
    if (channels_ != 3 || !all_grey_) return;
    const size_t n = static_cast<size_t>(out_->width) * static_cast<size_t>(out_->height);
    uint8_t* p = out_->pixels.data();
    for (size_t i = 0; i < n; ++i) p[i] = p[3 * i];
    out_->pixels.resize(n);
    out_->channels = 1;
  }

 private:
  int SourceRow(int out_row) const {
    return resize_ ? static_cast<int>(int64_t{out_row} * height_ / kPdqPreResize) : out_row;
  }
  bool RowIsGrey(const uint8_t* row) const {
    unsigned diff = 0;
    const size_t w = static_cast<size_t>(width_);
    for (size_t x = 0; x < w; ++x) {
      diff |= static_cast<unsigned>(row[3 * x] ^ row[3 * x + 1]) | static_cast<unsigned>(row[3 * x] ^ row[3 * x + 2]);
    }
    return diff == 0;
  }

  int width_ = 0, height_ = 0, channels_ = 0;
  bool resize_ = false;
  bool all_grey_ = false;
  int next_out_row_ = 0, input_row_ = 0;
  PreparedImage* out_ = nullptr;
  std::vector<int> src_x_;
  AreaDownsampler grey_, rgb_;
};

// ---------------------------------------------------------------------------------------------------------
// JPEG

struct JpegError {
  jpeg_error_mgr mgr;  // first member: libjpeg hands back a pointer to it
  jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
  bool truncated;
  bool too_many_scans;
  bool out_of_memory;
};

void JpegErrorExit(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<JpegError*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  err->out_of_memory = cinfo->err->msg_code == JERR_OUT_OF_MEMORY || cinfo->err->msg_code == JERR_NO_BACKING_STORE;
  std::longjmp(err->jump, 1);
}

void JpegEmitMessage(j_common_ptr cinfo, int level) {
  if (level >= 0) return;  // trace messages
  auto* err = reinterpret_cast<JpegError*>(cinfo->err);
  if (cinfo->err->msg_code == JWRN_JPEG_EOF || cinfo->err->msg_code == JWRN_HIT_MARKER) {
    // The file, or its entropy-coded data, ends before the last row. libjpeg would pad the rest with grey
    // and carry on (so would the reference); a hash of a partly invented image must not enter a bank.
    (*cinfo->err->format_message)(cinfo, err->message);
    err->truncated = true;
    std::longjmp(err->jump, 1);
  }
  // Other warnings (extraneous bytes, a damaged segment) are tolerated, as the reference's decoder does.
  cinfo->err->num_warnings++;
}

void JpegProgress(j_common_ptr cinfo) {
  if (!cinfo->is_decompressor) return;
  auto* dinfo = reinterpret_cast<j_decompress_ptr>(cinfo);
  if (dinfo->input_scan_number > kMaxProgressiveScans) {
    auto* err = reinterpret_cast<JpegError*>(cinfo->err);
    std::snprintf(err->message, sizeof(err->message), "more than %d progressive scans", kMaxProgressiveScans);
    err->too_many_scans = true;
    std::longjmp(err->jump, 1);
  }
}

struct JpegSession {
  jpeg_decompress_struct cinfo;
  JpegError err;
  jpeg_progress_mgr progress;
  JpegSession() {
    std::memset(&cinfo, 0, sizeof(cinfo));
    std::memset(&err, 0, sizeof(err));
    std::memset(&progress, 0, sizeof(progress));
    cinfo.err = jpeg_std_error(&err.mgr);
    err.mgr.error_exit = JpegErrorExit;
    err.mgr.emit_message = JpegEmitMessage;
    jpeg_create_decompress(&cinfo);
    progress.progress_monitor = JpegProgress;
    cinfo.progress = &progress;
  }
  ~JpegSession() { jpeg_destroy_decompress(&cinfo); }
  JpegSession(const JpegSession&) = delete;
  JpegSession& operator=(const JpegSession&) = delete;
};

bool JpegReadHeader(JpegSession* s, const uint8_t* data, size_t size, long max_memory) {
  if (setjmp(s->err.jump)) return false;
  s->cinfo.mem->max_memory_to_use = max_memory;
  jpeg_mem_src(&s->cinfo, data, static_cast<unsigned long>(size));
  if (jpeg_read_header(&s->cinfo, TRUE) != JPEG_HEADER_OK) {
    std::snprintf(s->err.message, sizeof(s->err.message), "no image in the JPEG stream");
    return false;
  }
  return true;
}

// libjpeg-turbo's CMYK to RGB rule (as djpeg and ImageMagick apply it): value = c * k / 255, rounded.
inline uint8_t CmykChannel(unsigned c, unsigned k) {
  return static_cast<uint8_t>(static_cast<double>(c) * static_cast<double>(k) / 255.0 + 0.5);
}

bool JpegDecodeRows(JpegSession* s, uint8_t* row, uint8_t* rgb_row, RowSampler* sampler) {
  if (setjmp(s->err.jump)) return false;
  jpeg_start_decompress(&s->cinfo);
  const bool cmyk = s->cinfo.out_color_space == JCS_CMYK;
  const JDIMENSION width = s->cinfo.output_width;
  while (s->cinfo.output_scanline < s->cinfo.output_height) {
    JSAMPROW rows[1] = {row};
    if (jpeg_read_scanlines(&s->cinfo, rows, 1) != 1) {
      std::snprintf(s->err.message, sizeof(s->err.message), "decoder returned no scanline");
      return false;
    }
    if (cmyk) {
      for (JDIMENSION x = 0; x < width; ++x) {
        const uint8_t* p = row + 4 * x;
        rgb_row[3 * x] = CmykChannel(p[0], p[3]);
        rgb_row[3 * x + 1] = CmykChannel(p[1], p[3]);
        rgb_row[3 * x + 2] = CmykChannel(p[2], p[3]);
      }
      sampler->AddRow(rgb_row);
    } else {
      sampler->AddRow(row);
    }
  }
  jpeg_finish_decompress(&s->cinfo);
  return true;
}

absl::Status JpegFailure(const JpegSession& s, std::string_view stage) {
  if (s.err.truncated) return absl::InvalidArgumentError("truncated JPEG: the data ends before the image does");
  if (s.err.too_many_scans) {
    return absl::InvalidArgumentError(absl::StrCat("corrupt JPEG: ", std::string(s.err.message)));
  }
  if (s.err.out_of_memory) {
    return absl::ResourceExhaustedError(absl::StrCat("JPEG needs more decoder memory than allowed: ", std::string(s.err.message)));
  }
  return absl::InvalidArgumentError(absl::StrCat("corrupt JPEG (", std::string(stage), "): ", std::string(s.err.message)));
}

absl::Status DecodeJpeg(std::span<const uint8_t> file, const ImageLimits& limits, PreparedImage* out,
                        const DecodeOutputs& extra) {
  JpegSession s;
  const uint64_t memory_cap = limits.max_pixels * 8 + (uint64_t{64} << 20);
  if (!JpegReadHeader(&s, file.data(), file.size(), static_cast<long>(memory_cap))) return JpegFailure(s, "header");
  const uint64_t w = s.cinfo.image_width, h = s.cinfo.image_height;
  if (w * h > limits.max_pixels) {
    return absl::ResourceExhaustedError(absl::StrCat("image is ", w, "x", h, " = ", w * h,
                                                     " pixels, over the limit of ", limits.max_pixels));
  }
  int channels = 3;
  switch (s.cinfo.jpeg_color_space) {
    case JCS_GRAYSCALE:
      s.cinfo.out_color_space = JCS_GRAYSCALE;
      channels = 1;
      break;
    case JCS_YCbCr:
    case JCS_RGB:
      s.cinfo.out_color_space = JCS_RGB;
      break;
    case JCS_CMYK:
    case JCS_YCCK:
      s.cinfo.out_color_space = JCS_CMYK;
      break;
    default:
      return absl::UnimplementedError("JPEG with an unsupported colour space");
  }
  const size_t decoded_channels = s.cinfo.out_color_space == JCS_CMYK ? 4 : static_cast<size_t>(channels);
  std::vector<uint8_t> row(static_cast<size_t>(w) * decoded_channels);
  std::vector<uint8_t> rgb_row(decoded_channels == 4 ? static_cast<size_t>(w) * 3 : 0);
  RowSampler sampler;
  sampler.Start(static_cast<int>(w), static_cast<int>(h), channels, out, extra);
  if (!JpegDecodeRows(&s, row.data(), rgb_row.data(), &sampler)) return JpegFailure(s, "data");
  sampler.Finish();
  out->format = ImageFormat::kJpeg;
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------------------------
// PNG

struct PngReader {
  std::span<const uint8_t> data;
  size_t offset = 0;
  bool truncated = false;
  char message[200] = {};
  jmp_buf jump;
};

void PngError(png_structp png, png_const_charp msg) {
  auto* r = static_cast<PngReader*>(png_get_error_ptr(png));
  std::snprintf(r->message, sizeof(r->message), "%s", msg);
  std::longjmp(r->jump, 1);
}

void PngWarning(png_structp, png_const_charp) {}  // ancillary-chunk problems: ignored, as the reference does

void PngRead(png_structp png, png_bytep dst, size_t length) {
  auto* r = static_cast<PngReader*>(png_get_io_ptr(png));
  if (r->data.size() - r->offset < length) {
    r->truncated = true;
    png_error(png, "the data ends early");
  }
  std::memcpy(dst, r->data.data() + r->offset, length);
  r->offset += length;
}

struct PngSession {
  PngReader reader;
  png_structp png = nullptr;
  png_infop info = nullptr;
  PngSession() {
    png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &reader, PngError, PngWarning);
    if (png != nullptr) info = png_create_info_struct(png);
  }
  ~PngSession() { png_destroy_read_struct(&png, info != nullptr ? &info : nullptr, nullptr); }
  PngSession(const PngSession&) = delete;
  PngSession& operator=(const PngSession&) = delete;
};

struct PngHeader {
  png_uint_32 width, height;
  int channels, passes;
};

bool PngReadHeader(PngSession* s, uint64_t max_pixels, PngHeader* header, bool* too_large) {
  if (setjmp(s->reader.jump)) return false;
  png_set_read_fn(s->png, &s->reader, PngRead);
  // Bounds libpng's own allocations for ancillary chunks (text, ICC profiles) too.
  png_set_chunk_malloc_max(s->png, 16u << 20);
  png_read_info(s->png, s->info);
  png_uint_32 w = 0, h = 0;
  int bit_depth = 0, color_type = 0;
  png_get_IHDR(s->png, s->info, &w, &h, &bit_depth, &color_type, nullptr, nullptr, nullptr);
  header->width = w;
  header->height = h;
  if (uint64_t{w} * h > max_pixels) {
    *too_large = true;
    return false;
  }
  if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(s->png);
  if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(s->png);
  if (bit_depth == 16) png_set_scale_16(s->png);
  if ((color_type & PNG_COLOR_MASK_ALPHA) != 0) png_set_strip_alpha(s->png);  // tRNS is simply not applied
  header->passes = png_set_interlace_handling(s->png);
  png_read_update_info(s->png, s->info);
  header->channels = png_get_channels(s->png, s->info);
  return true;
}

// Non-interlaced: one row buffer. Interlaced: the whole image, since every pass touches every row.
bool PngDecodeRows(PngSession* s, const PngHeader& header, uint8_t* buffer, RowSampler* sampler) {
  if (setjmp(s->reader.jump)) return false;
  const size_t row_bytes = static_cast<size_t>(header.width) * static_cast<size_t>(header.channels);
  if (header.passes == 1) {
    for (png_uint_32 y = 0; y < header.height; ++y) {
      png_read_row(s->png, buffer, nullptr);
      sampler->AddRow(buffer);
    }
  } else {
    for (int pass = 0; pass < header.passes; ++pass) {
      for (png_uint_32 y = 0; y < header.height; ++y) png_read_row(s->png, buffer + y * row_bytes, nullptr);
    }
    for (png_uint_32 y = 0; y < header.height; ++y) sampler->AddRow(buffer + y * row_bytes);
  }
  png_read_end(s->png, nullptr);
  return true;
}

absl::Status PngFailure(const PngSession& s, std::string_view stage) {
  if (s.reader.truncated) return absl::InvalidArgumentError("truncated PNG: the data ends before the image does");
  return absl::InvalidArgumentError(absl::StrCat("corrupt PNG (", std::string(stage), "): ", std::string(s.reader.message)));
}

// The PNG signature is followed by the IHDR chunk (the format requires it first), so the claimed size can
// be checked from the raw bytes before libpng reads anything further.
absl::Status CheckPngHeaderSize(std::span<const uint8_t> file, uint64_t max_pixels) {
  if (file.size() < 24 || std::memcmp(file.data() + 12, "IHDR", 4) != 0) return absl::OkStatus();  // libpng reports it
  auto be32 = [&file](size_t at) {
    return (uint32_t{file[at]} << 24) | (uint32_t{file[at + 1]} << 16) | (uint32_t{file[at + 2]} << 8) | file[at + 3];
  };
  const uint64_t width = be32(16), height = be32(20);
  if (width * height > max_pixels) {
    return absl::ResourceExhaustedError(absl::StrCat("image is ", width, "x", height, " = ", width * height,
                                                     " pixels, over the limit of ", max_pixels));
  }
  return absl::OkStatus();
}

absl::Status DecodePng(std::span<const uint8_t> file, const ImageLimits& limits, PreparedImage* out,
                       const DecodeOutputs& extra) {
  if (absl::Status s = CheckPngHeaderSize(file, limits.max_pixels); !s.ok()) return s;
  PngSession s;
  if (s.png == nullptr || s.info == nullptr) return absl::ResourceExhaustedError("cannot allocate a PNG decoder");
  s.reader.data = file;
  PngHeader header{};
  bool too_large = false;
  if (!PngReadHeader(&s, limits.max_pixels, &header, &too_large)) {
    if (too_large) {
      const uint64_t pixels = uint64_t{header.width} * header.height;
      return absl::ResourceExhaustedError(absl::StrCat("image is ", header.width, "x", header.height, " = ",
                                                       pixels, " pixels, over the limit of ", limits.max_pixels));
    }
    return PngFailure(s, "header");
  }
  if (header.channels != 1 && header.channels != 3) {
    return absl::UnimplementedError(absl::StrCat("PNG with ", header.channels, " channels after expansion"));
  }
  const size_t row_bytes = static_cast<size_t>(header.width) * static_cast<size_t>(header.channels);
  std::vector<uint8_t> buffer(header.passes == 1 ? row_bytes : row_bytes * header.height);
  RowSampler sampler;
  sampler.Start(static_cast<int>(header.width), static_cast<int>(header.height), header.channels, out, extra);
  if (!PngDecodeRows(&s, header, buffer.data(), &sampler)) return PngFailure(s, "data");
  sampler.Finish();
  out->format = ImageFormat::kPng;
  return absl::OkStatus();
}

}  // namespace

std::string_view ImageFormatName(ImageFormat format) {
  switch (format) {
    case ImageFormat::kJpeg: return "jpeg";
    case ImageFormat::kPng: return "png";
  }
  return "unknown";
}

absl::Status PrepareImageForPdq(std::span<const uint8_t> file, const ImageLimits& limits, PreparedImage* out) {
  return PrepareImage(file, limits, out, nullptr, 0);
}

void GreyFromRgb(const uint8_t* rgb, int width, int height, int stride, int long_side, GreyImage* out) {
  AreaDownsampler d;
  StartGrey(width, height, 3, out, long_side, &d);
  for (int y = 0; y < height; ++y) d.AddRow(rgb + static_cast<size_t>(y) * static_cast<size_t>(stride));
  d.Finish();
}

absl::Status PrepareImage(std::span<const uint8_t> file, const ImageLimits& limits, PreparedImage* out,
                          GreyImage* grey, int grey_long_side) {
  return PrepareImage(file, limits, out, DecodeOutputs{.grey = grey, .grey_long_side = grey_long_side});
}

absl::Status PrepareImage(std::span<const uint8_t> file, const ImageLimits& limits, PreparedImage* out,
                          const DecodeOutputs& extra) {
  if (extra.grey != nullptr && extra.grey_long_side < 1) return absl::InvalidArgumentError("grey_long_side must be positive");
  if (extra.rgb != nullptr && (extra.rgb_width < 1 || extra.rgb_height < 1 || extra.rgb_width > kMaxRgbSide ||
                               extra.rgb_height > kMaxRgbSide)) {
    return absl::InvalidArgumentError(absl::StrCat("rgb_width and rgb_height must be 1 to ", kMaxRgbSide));
  }
  if (file.empty()) return absl::InvalidArgumentError("empty file");
  if (file.size() > limits.max_file_bytes) {
    return absl::ResourceExhaustedError(
        absl::StrCat("file is ", file.size(), " bytes, over the limit of ", limits.max_file_bytes));
  }
  absl::Status decoded;
  if (StartsWith(file, "\xFF\xD8\xFF")) {
    decoded = DecodeJpeg(file, limits, out, extra);
  } else if (StartsWith(file, "\x89PNG\r\n\x1A\n")) {
    decoded = DecodePng(file, limits, out, extra);
  } else if (const char* name = RecognisedUnsupportedFormat(file)) {
    return absl::UnimplementedError(absl::StrCat("unsupported image format ", name, " (JPEG and PNG are supported)"));
  } else {
    return absl::UnimplementedError("not a recognised image format (JPEG and PNG are supported)");
  }
  if (decoded.ok() && extra.rgb != nullptr) UpscaleRgb(extra.rgb_width, extra.rgb_height, extra.rgb);
  return decoded;
}

}  // namespace hashbank
