#include "hashing/video_decoder.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <memory>
#include <mutex>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/avstring.h>
#include <libavutil/avutil.h>
#include <libavutil/cpu.h>
#include <libavutil/imgutils.h>
#include <libavutil/log.h>
#include <libswscale/swscale.h>
}

namespace hashbank {
namespace {

// Containers accepted: names as FFmpeg's demuxers list them (a demuxer matches if any of its names is here).
constexpr const char* kContainers = "mov,matroska,avi,flv,mpegts,mpeg,ogg";
// Decoders that find_stream_info may open while probing (video ones and the common audio ones, so that
// probing a file with sound does not fail); everything else is refused.
constexpr const char* kProbeDecoders =
    "h264,hevc,vp8,libvpx,vp9,libvpx-vp9,av1,libdav1d,libaom-av1,mpeg4,mpeg2video,mpeg1video,mjpeg,theora,h263,flv,"
    "aac,mp3float,mp3,opus,libopus,vorbis,flac,pcm_s16le,pcm_s24le,pcm_f32le,ac3,eac3,alac";
constexpr size_t kIoBufferBytes = 64 * 1024;
constexpr int64_t kProbeBytes = 8 << 20;         // bytes find_stream_info may read
constexpr int64_t kAnalyzeMicros = 10'000'000;   // and the media time it may analyse
constexpr int kMaxCorruptPackets = 64;           // packets the decoder may reject before the file is corrupt

bool AcceptedCodec(AVCodecID id) {
  switch (id) {
    case AV_CODEC_ID_H264: case AV_CODEC_ID_HEVC: case AV_CODEC_ID_VP8: case AV_CODEC_ID_VP9:
    case AV_CODEC_ID_AV1: case AV_CODEC_ID_MPEG4: case AV_CODEC_ID_MPEG2VIDEO: case AV_CODEC_ID_MPEG1VIDEO:
    case AV_CODEC_ID_MJPEG: case AV_CODEC_ID_THEORA: case AV_CODEC_ID_H263: case AV_CODEC_ID_FLV1:
      return true;
    default:
      return false;
  }
}

std::string AvError(int err) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {};
  av_strerror(err, buf, sizeof(buf));
  return buf;
}

// The file as a seekable AVIO source.
struct MemorySource {
  std::span<const uint8_t> data;
  size_t pos = 0;
};

int ReadPacket(void* opaque, uint8_t* buf, int size) {
  auto* src = static_cast<MemorySource*>(opaque);
  if (src->pos >= src->data.size()) return AVERROR_EOF;
  const size_t n = std::min(static_cast<size_t>(size), src->data.size() - src->pos);
  std::memcpy(buf, src->data.data() + src->pos, n);
  src->pos += n;
  return static_cast<int>(n);
}

int64_t Seek(void* opaque, int64_t offset, int whence) {
  auto* src = static_cast<MemorySource*>(opaque);
  const int64_t size = static_cast<int64_t>(src->data.size());
  if ((whence & AVSEEK_SIZE) != 0) return size;
  int64_t base = 0;
  switch (whence & ~AVSEEK_FORCE) {
    case SEEK_SET: base = 0; break;
    case SEEK_CUR: base = static_cast<int64_t>(src->pos); break;
    case SEEK_END: base = size; break;
    default: return AVERROR(EINVAL);
  }
  if (offset < -size || offset > size) return AVERROR(EINVAL);  // no overflow below: |base|, |offset| <= size
  const int64_t target = base + offset;
  if (target < 0 || target > size) return AVERROR(EINVAL);
  src->pos = static_cast<size_t>(target);
  return target;
}

// The demuxer may open nothing but the file it was given (no references to other files or URLs).
int RefuseOpen(AVFormatContext*, AVIOContext**, const char*, int, AVDictionary**) { return AVERROR(EPERM); }

struct IoDeleter {
  void operator()(AVIOContext* io) const {
    if (io == nullptr) return;
    av_freep(&io->buffer);
    avio_context_free(&io);
  }
};
struct FormatDeleter {
  void operator()(AVFormatContext* f) const { avformat_close_input(&f); }
};
struct CodecDeleter {
  void operator()(AVCodecContext* c) const { avcodec_free_context(&c); }
};
struct FrameDeleter {
  void operator()(AVFrame* f) const { av_frame_free(&f); }
};
struct PacketDeleter {
  void operator()(AVPacket* p) const { av_packet_free(&p); }
};
struct SwsDeleter {
  void operator()(SwsContext* s) const { sws_freeContext(s); }
};

// FFmpeg's CPU-flag override is process-wide: every change of it, and every codec or scaler set up while it
// may be changed, holds this lock.
std::mutex& CpuFlagsMutex() {
  static std::mutex mu;
  return mu;
}

// The RGB24 converter of a frame, as swscale's portable C code paths build it: the reference's hashes were
// made with them (bit-identical on its sample videos), while this machine's SIMD YUV->RGB paths round
// differently (1 to 4 bits of PDQ on some frames). Only the converter is built so; decoders keep their SIMD.
SwsContext* ConverterFor(SwsContext* cached, int src_w, int src_h, AVPixelFormat src, int dst_w, int dst_h) {
  std::lock_guard<std::mutex> lock(CpuFlagsMutex());
  av_force_cpu_flags(0);
  SwsContext* c = sws_getCachedContext(cached, src_w, src_h, src, dst_w, dst_h, AV_PIX_FMT_RGB24, SWS_AREA, nullptr,
                                       nullptr, nullptr);
  av_force_cpu_flags(-1);  // back to what the CPU has
  return c;
}

void QuietLibraries() {
  static std::once_flag once;
  std::call_once(once, [] { av_log_set_level(AV_LOG_QUIET); });  // nothing hostile reaches stderr
}

absl::Status CheckSize(int width, int height, const VideoLimits& limits, const char* what) {
  if (width <= 0 || height <= 0) return absl::InvalidArgumentError(absl::StrCat("video: ", what, " has no size"));
  if (width > limits.max_width || height > limits.max_height ||
      static_cast<uint64_t>(width) * static_cast<uint64_t>(height) > limits.max_pixels) {
    return absl::ResourceExhaustedError(absl::StrCat("video: ", what, " is ", width, "x", height, "; this node accepts at most ",
                                                     limits.max_width, "x", limits.max_height, " and ", limits.max_pixels,
                                                     " pixels"));
  }
  return absl::OkStatus();
}

class Decoder {
 public:
  Decoder(std::span<const uint8_t> file, const VideoLimits& limits, const VideoDecodeOptions& options,
          const FrameSink& sink, VideoInfo* info)
      : source_{file, 0}, limits_(limits), options_(options), sink_(sink), info_(info) {}

  absl::Status Run() {
    start_ = std::chrono::steady_clock::now();
    if (absl::Status s = Open(); !s.ok()) return s;
    if (absl::Status s = PlanSkips(); !s.ok()) return s;
    if (absl::Status s = Decode(); !s.ok()) return s;
    if (info_->decoded_frames == 0) {
      return absl::InvalidArgumentError("video: no frame could be decoded (truncated or corrupt)");
    }
    if (info_->duration_seconds <= 0) info_->duration_seconds = last_time_;
    return absl::OkStatus();
  }

 private:
  // A seekable AVIO context over `source` (null when out of memory).
  static std::unique_ptr<AVIOContext, IoDeleter> NewIo(MemorySource* source) {
    unsigned char* buffer = static_cast<unsigned char*>(av_malloc(kIoBufferBytes));
    if (buffer == nullptr) return nullptr;
    std::unique_ptr<AVIOContext, IoDeleter> io(
        avio_alloc_context(buffer, kIoBufferBytes, 0, source, &ReadPacket, nullptr, &Seek));
    if (!io) av_free(buffer);
    return io;
  }
  // A format context reading `io` only: accepted containers, no other file opened, the decode deadline
  // polled (null when out of memory). Owned by the caller until avformat_open_input takes it.
  AVFormatContext* NewFormat(AVIOContext* io) {
    AVFormatContext* f = avformat_alloc_context();
    if (f == nullptr) return nullptr;
    f->pb = io;
    f->flags |= AVFMT_FLAG_CUSTOM_IO;
    f->format_whitelist = av_strdup(kContainers);
    f->io_open = &RefuseOpen;
    // Blocking reads and probing stop at the decode deadline too (FFmpeg polls this).
    f->interrupt_callback = AVIOInterruptCB{&Decoder::Interrupted, this};
    return f;
  }

  absl::Status Open() {
    io_ = NewIo(&source_);
    if (!io_) return absl::ResourceExhaustedError("video: out of memory");
    const AVInputFormat* format = nullptr;
    if (av_probe_input_buffer2(io_.get(), &format, nullptr, nullptr, 0, 0) < AVPROBE_SCORE_RETRY || format == nullptr) {
      return absl::InvalidArgumentError("video: not a recognised video container");
    }
    if (av_match_list(format->name, kContainers, ',') <= 0) {
      return absl::UnimplementedError(absl::StrCat("video: the container \"", format->name,
                                                   "\" is not accepted (MP4/MOV, Matroska/WebM, AVI, FLV, MPEG-TS/PS, Ogg are)"));
    }
    AVFormatContext* raw = NewFormat(io_.get());
    if (raw == nullptr) return absl::ResourceExhaustedError("video: out of memory");
    raw->probesize = kProbeBytes;
    raw->max_analyze_duration = kAnalyzeMicros;
    raw->codec_whitelist = av_strdup(kProbeDecoders);
    if (const int err = avformat_open_input(&raw, nullptr, format, nullptr); err < 0) {
      // avformat_open_input frees the context on failure.
      if (Expired()) return Deadline();
      return absl::InvalidArgumentError(absl::StrCat("video: the container could not be read (", AvError(err),
                                                     "; truncated or corrupt)"));
    }
    format_.reset(raw);
    info_->container = format->name;
    // Only the first video stream is read: the others are discarded before probing.
    // Demuxers that find their streams only while reading packets (FLV, MPEG-PS) have none yet: they are
    // chosen after probing.
    const bool streams_known = format_->nb_streams > 0;
    if (streams_known) {
      if (absl::Status s = ChooseStream(); !s.ok()) return s;
      AVStream* early = format_->streams[stream_index_];
      if (absl::Status s = CheckSize(early->codecpar->width, early->codecpar->height, limits_, "the video stream");
          !s.ok() && s.code() == absl::StatusCode::kResourceExhausted) {
        return s;  // before any probing decode; a missing size may still be filled in by probing
      }
    }
    // Probing may decode a few frames with any stream's decoder: each is bounded in pixels and threads, and
    // set up under the CPU-flags lock like every decoder here.
    std::vector<AVDictionary*> probe_options(format_->nb_streams, nullptr);
    for (AVDictionary*& d : probe_options) {
      av_dict_set_int(&d, "max_pixels", static_cast<int64_t>(limits_.max_pixels), 0);
      av_dict_set(&d, "threads", "1", 0);
    }
    int probed = 0;
    {
      std::lock_guard<std::mutex> lock(CpuFlagsMutex());
      probed = avformat_find_stream_info(format_.get(), probe_options.empty() ? nullptr : probe_options.data());
    }
    for (AVDictionary*& d : probe_options) av_dict_free(&d);
    if (Expired()) return Deadline();
    if (const int err = probed; err < 0) {
      return absl::InvalidArgumentError(absl::StrCat("video: stream information could not be read (", AvError(err), ")"));
    }
    if (!streams_known) {
      if (absl::Status s = ChooseStream(); !s.ok()) return s;
    }
    AVStream* stream = format_->streams[stream_index_];
    const AVCodecParameters* par = stream->codecpar;
    if (!AcceptedCodec(par->codec_id)) {
      return absl::UnimplementedError(absl::StrCat("video: the codec \"", avcodec_get_name(par->codec_id),
                                                   "\" is not accepted (H.264, HEVC, VP8, VP9, AV1, MPEG-4, MPEG-1/2, "
                                                   "MJPEG, Theora, H.263 are)"));
    }
    info_->codec = avcodec_get_name(par->codec_id);
    if (absl::Status s = CheckSize(par->width, par->height, limits_, "the video stream"); !s.ok()) return s;
    info_->width = par->width;
    info_->height = par->height;
    AVRational rate = stream->avg_frame_rate;
    if (rate.num == 0 || rate.den == 0) rate = stream->r_frame_rate;
    if (rate.num <= 0 || rate.den <= 0) return absl::InvalidArgumentError("video: the frame rate is unknown");
    info_->frame_rate = av_q2d(rate);
    if (format_->duration != AV_NOPTS_VALUE && format_->duration > 0) {
      info_->duration_seconds = static_cast<double>(format_->duration) / AV_TIME_BASE;
    }
    if (info_->duration_seconds > limits_.max_duration_seconds) return TooLong(info_->duration_seconds);
    expected_frames_ = stream->nb_frames;
    time_base_ = stream->time_base;
    start_pts_ = stream->start_time != AV_NOPTS_VALUE ? stream->start_time : 0;

    const AVCodec* codec = avcodec_find_decoder(par->codec_id);
    if (codec == nullptr) {
      return absl::UnimplementedError(absl::StrCat("video: no decoder for \"", info_->codec, "\" on this machine"));
    }
    codec_.reset(avcodec_alloc_context3(codec));
    if (!codec_) return absl::ResourceExhaustedError("video: out of memory");
    if (avcodec_parameters_to_context(codec_.get(), par) < 0) {
      return absl::InvalidArgumentError("video: the codec parameters are invalid");
    }
    codec_->thread_count = 1;  // one core per request; decoding is bit-exact whatever the threading
    codec_->max_pixels = static_cast<int64_t>(limits_.max_pixels);
    int opened = 0;
    {
      std::lock_guard<std::mutex> lock(CpuFlagsMutex());  // not while a converter is built with no SIMD
      opened = avcodec_open2(codec_.get(), codec, nullptr);
    }
    if (const int err = opened; err < 0) {
      return absl::InvalidArgumentError(absl::StrCat("video: the decoder could not start (", AvError(err), ")"));
    }
    frame_mod_ = static_cast<uint64_t>(options_.seconds_per_frame * info_->frame_rate);
    if (frame_mod_ == 0) frame_mod_ = 1;
    return absl::OkStatus();
  }

  // Whether unsampled non-reference frames may go undecoded, and the presentation order that numbers the
  // frames then: the timestamps of every packet of the stream, read by a second demuxer over the same bytes
  // (no decoding). Any doubt (another codec or container, a packet without a timestamp, two packets with one,
  // a read error, more frames than the limit) leaves every frame decoded, as the reference does.
  absl::Status PlanSkips() {
    if (options_.decode_every_frame || frame_mod_ <= 1) return absl::OkStatus();
    const AVCodecID codec = format_->streams[stream_index_]->codecpar->codec_id;
    if (codec != AV_CODEC_ID_H264 && codec != AV_CODEC_ID_HEVC) return absl::OkStatus();
    if (av_match_list(format_->iformat->name, "mov,matroska", ',') <= 0) return absl::OkStatus();
    MemorySource source{source_.data, 0};
    std::unique_ptr<AVIOContext, IoDeleter> io = NewIo(&source);
    AVFormatContext* raw = io ? NewFormat(io.get()) : nullptr;
    if (raw == nullptr) return absl::ResourceExhaustedError("video: out of memory");
    if (avformat_open_input(&raw, nullptr, format_->iformat, nullptr) < 0) {
      return Expired() ? Deadline() : absl::OkStatus();
    }
    std::unique_ptr<AVFormatContext, FormatDeleter> format(raw);
    if (format->nb_streams != format_->nb_streams ||
        format->streams[stream_index_]->codecpar->codec_id != codec) {
      return absl::OkStatus();
    }
    for (unsigned i = 0; i < format->nb_streams; ++i) {
      if (static_cast<int>(i) != stream_index_) format->streams[i]->discard = AVDISCARD_ALL;
    }
    std::unique_ptr<AVPacket, PacketDeleter> packet(av_packet_alloc());
    if (!packet) return absl::ResourceExhaustedError("video: out of memory");
    std::vector<int64_t> order;
    while (true) {
      const int read = av_read_frame(format.get(), packet.get());
      if (read == AVERROR_EOF) break;
      if (read < 0) return Expired() ? Deadline() : absl::OkStatus();
      const bool ours = packet->stream_index == stream_index_;
      const int64_t pts = packet->pts;
      const bool shown = (packet->flags & AV_PKT_FLAG_DISCARD) == 0;  // edit lists drop some leading frames
      av_packet_unref(packet.get());
      if (!ours || !shown) continue;
      if (pts == AV_NOPTS_VALUE || order.size() >= limits_.max_frames) return absl::OkStatus();
      order.push_back(pts);
    }
    std::sort(order.begin(), order.end());
    if (order.empty() || std::adjacent_find(order.begin(), order.end()) != order.end()) return absl::OkStatus();
    // The last frame's time is known before anything is decoded: a container that did not say how long the
    // video is is held to the duration limit here.
    if (time_base_.den > 0) {
      const double last = (static_cast<double>(order.back()) - static_cast<double>(start_pts_)) * av_q2d(time_base_);
      if (last > limits_.max_duration_seconds) return TooLong(last);
      if (last < 1e9) planned_end_ = last;
    }
    order_ = std::move(order);
    skip_ = true;
    return absl::OkStatus();
  }

  // The frame number of a presentation timestamp in the planned order, or -1.
  int64_t PlannedNumber(int64_t pts) const {
    if (pts == AV_NOPTS_VALUE) return -1;
    const auto it = std::lower_bound(order_.begin(), order_.end(), pts);
    return it != order_.end() && *it == pts ? it - order_.begin() : -1;
  }

  absl::Status ChooseStream() {
    stream_index_ = av_find_best_stream(format_.get(), AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
    if (stream_index_ < 0) return absl::InvalidArgumentError("video: the file has no video stream");
    for (unsigned i = 0; i < format_->nb_streams; ++i) {
      if (static_cast<int>(i) != stream_index_) format_->streams[i]->discard = AVDISCARD_ALL;
    }
    return absl::OkStatus();
  }

  bool Expired() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count() > limits_.max_decode_seconds;
  }
  absl::Status Deadline() const {
    return absl::DeadlineExceededError(absl::StrCat("video: decoding took over ", limits_.max_decode_seconds, " s"));
  }
  static int Interrupted(void* self) { return static_cast<const Decoder*>(self)->Expired() ? 1 : 0; }

  absl::Status TooLong(double seconds) const {
    return absl::ResourceExhaustedError(absl::StrFormat("video: %.1f s long; this node accepts at most %.1f s", seconds,
                                                        limits_.max_duration_seconds));
  }

  absl::Status Decode() {
    std::unique_ptr<AVPacket, PacketDeleter> packet(av_packet_alloc());
    frame_.reset(av_frame_alloc());
    rgb_.reset(av_frame_alloc());
    if (!packet || !frame_ || !rgb_) return absl::ResourceExhaustedError("video: out of memory");
    int corrupt = 0;
    bool truncated = false;
    while (true) {
      const int read = av_read_frame(format_.get(), packet.get());
      if (read == AVERROR_EOF) break;
      if (read < 0) {
        if (Expired()) return Deadline();  // interrupted by the deadline, not cut short
        truncated = true;  // a read error before the end: what the file holds is cut short or damaged
        break;
      }
      if (packet->stream_index != stream_index_) {
        av_packet_unref(packet.get());
        continue;
      }
      ++packets_;
      if (Expired()) return Deadline();
      if ((packet->flags & AV_PKT_FLAG_CORRUPT) != 0 && packet->pos >= 0 &&
          packet->pos + packet->size >= static_cast<int64_t>(source_.data.size())) {
        truncated = true;  // the demuxer read short at the end of the data: the last packet is cut
      }
      if (skip_) {  // decoded if sampled, or if in doubt; otherwise only if other frames refer to it
        const int64_t planned = (packet->flags & AV_PKT_FLAG_DISCARD) != 0 ? -2 : PlannedNumber(packet->pts);
        const bool sampled = planned == -1 || (planned >= 0 && static_cast<uint64_t>(planned) % frame_mod_ == 0);
        codec_->skip_frame = sampled ? AVDISCARD_DEFAULT : AVDISCARD_NONREF;
      }
      const int sent = avcodec_send_packet(codec_.get(), packet.get());
      av_packet_unref(packet.get());
      if (sent == AVERROR_INVALIDDATA) {
        if (++corrupt > kMaxCorruptPackets) {
          return absl::InvalidArgumentError(absl::StrCat("video: over ", kMaxCorruptPackets, " corrupt packets"));
        }
        continue;
      }
      if (sent < 0) return absl::InvalidArgumentError(absl::StrCat("video: decoding failed (", AvError(sent), ")"));
      if (absl::Status s = Receive(); !s.ok()) return s;
    }
    avcodec_send_packet(codec_.get(), nullptr);  // flush: frames the decoder still holds
    if (absl::Status s = Receive(); !s.ok()) return s;
    // A container that announced more frames than it holds packets for is cut short.
    if (expected_frames_ > 0 && packets_ < expected_frames_) {
      truncated = true;
    }
    if (skip_ && !truncated && info_->decoded_frames > 0) {
      // Frames after the last decoded one were skipped, not missing: count them, and their time.
      info_->skipped_frames += order_.size() - std::min<uint64_t>(order_.size(), info_->decoded_frames);
      info_->decoded_frames = std::max<uint64_t>(info_->decoded_frames, order_.size());
      last_time_ = std::max(last_time_, planned_end_);  // within the limit: PlanSkips checked it
    }
    if (truncated) {
      return absl::InvalidArgumentError(absl::StrCat("video: truncated or corrupt (", info_->decoded_frames, " frames decoded",
                                                     expected_frames_ > 0 ? absl::StrCat(" of ", expected_frames_) : "",
                                                     ")"));
    }
    return absl::OkStatus();
  }

  absl::Status Receive() {
    while (true) {
      const int got = avcodec_receive_frame(codec_.get(), frame_.get());
      if (got == AVERROR(EAGAIN) || got == AVERROR_EOF) return absl::OkStatus();
      if (got < 0) return absl::InvalidArgumentError(absl::StrCat("video: decoding failed (", AvError(got), ")"));
      absl::Status s = OnFrame();
      av_frame_unref(frame_.get());
      if (!s.ok()) return s;
    }
  }

  absl::Status OnFrame() {
    uint64_t number = info_->decoded_frames;
    if (skip_) {  // the planned number, unless it would go back (a hostile stream's timestamps may disagree)
      const int64_t planned = PlannedNumber(frame_->pts);
      if (planned >= 0 && static_cast<uint64_t>(planned) > number) {
        info_->skipped_frames += static_cast<uint64_t>(planned) - number;
        number = static_cast<uint64_t>(planned);
      }
    }
    info_->decoded_frames = number + 1;
    if (info_->decoded_frames > limits_.max_frames) {
      return absl::ResourceExhaustedError(absl::StrCat("video: over ", limits_.max_frames, " frames; this node accepts no more"));
    }
    if (Expired()) return Deadline();
    // The media time of this frame: by the reference's frame-number rule and by its own timestamp, the later.
    double t = static_cast<double>(number) / info_->frame_rate;
    if (frame_->best_effort_timestamp != AV_NOPTS_VALUE && time_base_.den > 0) {
      const double pts = (static_cast<double>(frame_->best_effort_timestamp) - static_cast<double>(start_pts_)) *
                         av_q2d(time_base_);
      if (pts > t && pts < 1e9) t = pts;
    }
    last_time_ = std::max(last_time_, t);
    if (last_time_ > limits_.max_duration_seconds) return TooLong(last_time_);
    if (absl::Status s = CheckSize(frame_->width, frame_->height, limits_, "a frame"); !s.ok()) return s;
    if (number % frame_mod_ != 0) return absl::OkStatus();

    const int out_w = options_.downsample_width > 0 ? options_.downsample_width : info_->width;
    const int out_h = options_.downsample_height > 0 ? options_.downsample_height : info_->height;
    sws_.reset(ConverterFor(sws_.release(), frame_->width, frame_->height, static_cast<AVPixelFormat>(frame_->format),
                            out_w, out_h));
    if (!sws_) return absl::InvalidArgumentError("video: a frame's pixel format cannot be converted");
    if (rgb_->width != out_w || rgb_->height != out_h || rgb_->data[0] == nullptr) {
      av_frame_unref(rgb_.get());
      rgb_->format = AV_PIX_FMT_RGB24;
      rgb_->width = out_w;
      rgb_->height = out_h;
      if (av_frame_get_buffer(rgb_.get(), 0) < 0) return absl::ResourceExhaustedError("video: out of memory");
    }
    sws_scale(sws_.get(), frame_->data, frame_->linesize, 0, frame_->height, rgb_->data, rgb_->linesize);
    const RgbFrame out{rgb_->data[0], out_w, out_h, rgb_->linesize[0], number};
    return sink_(out, *info_);
  }

  MemorySource source_;
  const VideoLimits& limits_;
  const VideoDecodeOptions& options_;
  const FrameSink& sink_;
  VideoInfo* info_;
  std::chrono::steady_clock::time_point start_;
  // Declared so that the format context is closed before the AVIO context it reads from is freed.
  std::unique_ptr<AVIOContext, IoDeleter> io_;
  std::unique_ptr<AVFormatContext, FormatDeleter> format_;
  std::unique_ptr<AVCodecContext, CodecDeleter> codec_;
  std::unique_ptr<AVFrame, FrameDeleter> frame_, rgb_;
  std::unique_ptr<SwsContext, SwsDeleter> sws_;
  int stream_index_ = -1;
  int64_t expected_frames_ = 0;
  AVRational time_base_{0, 1};
  int64_t start_pts_ = 0;
  int64_t packets_ = 0;
  uint64_t frame_mod_ = 1;
  double last_time_ = 0;
  bool skip_ = false;            // unsampled non-reference frames are not decoded (PlanSkips)
  std::vector<int64_t> order_;   // then: every frame's presentation timestamp, sorted; the index is its number
  double planned_end_ = 0;       // and the last one's time in seconds
};

}  // namespace

absl::Status DecodeVideo(std::span<const uint8_t> file, const VideoLimits& limits, const VideoDecodeOptions& options,
                         const FrameSink& sink, VideoInfo* info) {
  VideoInfo local;
  if (info == nullptr) info = &local;
  *info = VideoInfo{};
  if (file.empty()) return absl::InvalidArgumentError("video: the file is empty");
  if (file.size() > limits.max_file_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat("video: ", file.size(), " bytes; this node accepts at most ",
                                                     limits.max_file_bytes));
  }
  if (!(options.seconds_per_frame >= 0 && options.seconds_per_frame <= 3600) || options.downsample_width < 0 ||
      options.downsample_height < 0 || (options.downsample_width > 0) != (options.downsample_height > 0)) {
    return absl::InvalidArgumentError("video: seconds_per_frame must be 0 to 3600 and a downsample size has both sides");
  }
  QuietLibraries();
  Decoder decoder(file, limits, options, sink, info);
  return decoder.Run();
}

}  // namespace hashbank
