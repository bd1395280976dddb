// JPEG and PNG through Debian's libjpeg-turbo and libpng. Both report errors by longjmp, which
// Swift cannot catch, so these wrappers own the setjmp and turn every failure into a message.
#ifndef MODELGRAPH_IMAGE_CODECS_H
#define MODELGRAPH_IMAGE_CODECS_H

#include <stddef.h>
#include <stdint.h>

/// 8-bit interleaved RGB pixels (malloc'd; free with mg_free).
typedef struct {
    uint8_t *pixels;
    int width;
    int height;
    /// Channels in the file before conversion (1 grey, 2 grey+alpha, 3, 4 RGBA/CMYK).
    int sourceChannels;
    /// Bits per sample in the file.
    int sourceBits;
} mg_image;

/// Decodes a JPEG (any colour space: grey and CMYK are converted to RGB as OpenCV does) into
/// `out`. Returns 0, or -1 with `message` filled. Images over `max_pixels` are refused before
/// any pixel memory is allocated.
int mg_decode_jpeg(const uint8_t *data, size_t size, long long max_pixels, mg_image *out, char *message, size_t capacity);

/// Decodes a PNG (palette, grey, alpha, 16-bit converted to 8-bit RGB as OpenCV's IMREAD_COLOR
/// does: alpha dropped, 16-bit samples keep their high byte).
int mg_decode_png(const uint8_t *data, size_t size, long long max_pixels, mg_image *out, char *message, size_t capacity);

/// Encodes RGB pixels as a PNG or JPEG in memory (`*encoded` malloc'd; free with mg_free).
int mg_encode_png(const uint8_t *rgb, int width, int height, uint8_t **encoded, size_t *encoded_size, char *message, size_t capacity);
int mg_encode_jpeg(const uint8_t *rgb, int width, int height, int quality, uint8_t **encoded, size_t *encoded_size, char *message, size_t capacity);

void mg_free(void *pointer);

#endif
