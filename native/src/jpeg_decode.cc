// A small synchronous JPEG decoder for the data pipeline (the effnet_image addon, independent of libtorch so that
// loader worker threads can load it cheaply). It calls the system libjpeg(-turbo) exactly as Pillow's JpegDecode.c
// does (library defaults: islow DCT, fancy upsampling; out_color_space RGB for 1- and 3-component files, CMYK for
// 4-component ones, then Pillow's "CMYK;I" unpacking and CMYK -> RGB conversion), so the pixels equal
// `PIL.Image.open(f).convert('RGB')` when Pillow links the same libjpeg. Anything it would not decode exactly as
// Pillow does (not a JPEG, 12-bit data, 2 components, any libjpeg warning such as truncated or corrupt data) gives
// null, and the caller falls back to its general decoder. Built without libjpeg, it reports `available: false`.
#include <node_api.h>

#include <cstdint>
#include <vector>

#ifdef EFFNET_HAVE_LIBJPEG
#include <csetjmp>
#include <cstdio>
#include <jpeglib.h>
#endif

namespace effnet {

#ifdef EFFNET_HAVE_LIBJPEG
namespace {

// libjpeg error manager that long-jumps back instead of exiting, and counts warnings instead of printing them.
struct ErrorManager {
  jpeg_error_mgr pub;
  jmp_buf jump;
  int warnings;
};

void onError(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<ErrorManager*>(cinfo->err);
  longjmp(err->jump, 1);
}

void onMessage(j_common_ptr cinfo, int level) {
  // level < 0: a warning (corrupt data, premature end of data); >= 0: trace messages.
  if (level < 0) reinterpret_cast<ErrorManager*>(cinfo->err)->warnings++;
}

struct Decoder {
  jpeg_decompress_struct cinfo;
  ErrorManager err;
  bool created = false;
};

// Phase 1: read the header and choose the output colour space. Only plain C data live in this frame, so the
// long jump out of libjpeg skips no destructor. Returns false when the file is not one we decode exactly.
bool readHeader(Decoder* d, const uint8_t* bytes, size_t size) {
  d->cinfo.err = jpeg_std_error(&d->err.pub);
  d->err.pub.error_exit = onError;
  d->err.pub.emit_message = onMessage;
  d->err.warnings = 0;
  if (setjmp(d->err.jump)) return false;
  jpeg_create_decompress(&d->cinfo);
  d->created = true;
  jpeg_mem_src(&d->cinfo, const_cast<unsigned char*>(bytes), static_cast<unsigned long>(size));
  if (jpeg_read_header(&d->cinfo, TRUE) != JPEG_HEADER_OK) return false;
  if (d->err.warnings > 0) return false;
  if (d->cinfo.data_precision != 8) return false;  // Pillow refuses other precisions
  const int components = d->cinfo.num_components;
  if (components == 1 || components == 3) {
    d->cinfo.out_color_space = JCS_RGB;  // Pillow: L (then replicated by convert) or RGB, as the library guesses
  } else if (components == 4) {
    d->cinfo.out_color_space = JCS_CMYK;  // Pillow: rawmode "CMYK;I"
  } else {
    return false;
  }
  jpeg_calc_output_dimensions(&d->cinfo);  // no scaling is requested: the output size is the image size
  return true;
}

// Phase 2: decompress into `out` (width * height * 3 bytes). `row` is scratch for CMYK scanlines.
bool decompress(Decoder* d, uint8_t* out, uint8_t* row) {
  if (setjmp(d->err.jump)) return false;
  jpeg_start_decompress(&d->cinfo);
  const JDIMENSION width = d->cinfo.output_width;
  const bool cmyk = d->cinfo.out_color_space == JCS_CMYK;
  while (d->cinfo.output_scanline < d->cinfo.output_height) {
    uint8_t* target = out + static_cast<size_t>(d->cinfo.output_scanline) * width * 3;
    JSAMPROW rows[1] = {cmyk ? row : target};
    if (jpeg_read_scanlines(&d->cinfo, rows, 1) != 1) return false;
    if (cmyk) {
      // Pillow's unpackI (every CMYK;I byte inverted) then cmyk2rgb: nk = 255 - k, v = nk - MULDIV255(c, nk).
      for (JDIMENSION x = 0; x < width; x++) {
        // With the inversion, nk = 255 - (255 - k) is the stored K byte.
        const int nk = row[x * 4 + 3];
        for (int c = 0; c < 3; c++) {
          const int tmp = (255 - row[x * 4 + c]) * nk + 128;
          const int v = nk - (((tmp >> 8) + tmp) >> 8);
          target[x * 3 + c] = static_cast<uint8_t>(v < 0 ? 0 : v > 255 ? 255 : v);
        }
      }
    }
  }
  jpeg_finish_decompress(&d->cinfo);
  return d->err.warnings == 0;
}

void destroy(Decoder* d) {
  if (d->created) jpeg_destroy_decompress(&d->cinfo);
  d->created = false;
}

bool looksLikeJpeg(const uint8_t* bytes, size_t size) {
  return size >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF;
}

}  // namespace
#endif

// decodeJpeg(bytes: Uint8Array): { data: Uint8Array, width, height } (8-bit RGB, HWC) or null.
// Written against the plain C N-API rather than node-addon-api (the libtorch addon's wrapper): this function runs in
// loader worker threads, and Worker.terminate() can stop it half-way; then N-API calls fail, and node-addon-api's
// error paths (creating and throwing an Error in an engine that is shutting down) abort the whole process. Here
// each failing call simply returns, leaving whatever exception is pending.
napi_value DecodeJpeg(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok) return nullptr;
  bool isTypedArray = false;
  napi_typedarray_type type = napi_int8_array;
  size_t length = 0;
  void* data = nullptr;
  if (argc >= 1) napi_is_typedarray(env, argv[0], &isTypedArray);
  if (isTypedArray && napi_get_typedarray_info(env, argv[0], &type, &length, &data, nullptr, nullptr) != napi_ok) return nullptr;
  if (!isTypedArray || type != napi_uint8_array) {
    napi_throw_type_error(env, nullptr, "decodeJpeg: expected the encoded file as a Uint8Array (or Buffer)");
    return nullptr;
  }
  napi_value null;
  if (napi_get_null(env, &null) != napi_ok) return nullptr;
#ifdef EFFNET_HAVE_LIBJPEG
  const auto* bytes = static_cast<const uint8_t*>(data);
  if (!looksLikeJpeg(bytes, length)) return null;
  Decoder d;
  if (!readHeader(&d, bytes, length)) {
    destroy(&d);
    return null;
  }
  const size_t width = d.cinfo.output_width;
  const size_t height = d.cinfo.output_height;
  const size_t bytesOut = width * height * 3;
  void* pixels = nullptr;
  napi_value buffer;
  if (napi_create_arraybuffer(env, bytesOut, &pixels, &buffer) != napi_ok) {
    destroy(&d);
    return nullptr;
  }
  std::vector<uint8_t> row(d.cinfo.out_color_space == JCS_CMYK ? width * 4 : 0);
  const bool ok = decompress(&d, static_cast<uint8_t*>(pixels), row.data());
  destroy(&d);
  if (!ok) return null;
  napi_value array, result, w, h;
  if (napi_create_typedarray(env, napi_uint8_array, bytesOut, buffer, 0, &array) != napi_ok ||
      napi_create_double(env, static_cast<double>(width), &w) != napi_ok ||
      napi_create_double(env, static_cast<double>(height), &h) != napi_ok ||
      napi_create_object(env, &result) != napi_ok ||
      napi_set_named_property(env, result, "data", array) != napi_ok ||
      napi_set_named_property(env, result, "width", w) != napi_ok ||
      napi_set_named_property(env, result, "height", h) != napi_ok) {
    return nullptr;
  }
  return result;
#else
  return null;
#endif
}

napi_value InitImage(napi_env env, napi_value exports) {
  napi_value fn, available;
  if (napi_create_function(env, "decodeJpeg", NAPI_AUTO_LENGTH, DecodeJpeg, nullptr, &fn) != napi_ok ||
      napi_set_named_property(env, exports, "decodeJpeg", fn) != napi_ok) {
    return nullptr;
  }
#ifdef EFFNET_HAVE_LIBJPEG
  const bool built = true;
#else
  const bool built = false;
#endif
  if (napi_get_boolean(env, built, &available) != napi_ok || napi_set_named_property(env, exports, "available", available) != napi_ok) return nullptr;
  return exports;
}

}  // namespace effnet

NAPI_MODULE_INIT() { return effnet::InitImage(env, exports); }
