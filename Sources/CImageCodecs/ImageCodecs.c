#include "ImageCodecs.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <png.h>

void mg_free(void *pointer) { free(pointer); }

static void copy_message(char *message, size_t capacity, const char *text) {
    if (capacity == 0) return;
    snprintf(message, capacity, "%s", text);
}

/* ---------------------------------------------------------------- JPEG */

struct jpeg_failure {
    struct jpeg_error_mgr manager;
    jmp_buf jump;
    char text[JMSG_LENGTH_MAX];
};

static void jpeg_fail(j_common_ptr info) {
    struct jpeg_failure *failure = (struct jpeg_failure *)info->err;
    (*info->err->format_message)(info, failure->text);
    longjmp(failure->jump, 1);
}

/* libjpeg's warnings (e.g. a truncated scan) are not fatal, as in OpenCV; stay quiet */
static void jpeg_quiet(j_common_ptr info, int level) { (void)info; (void)level; }

int mg_decode_jpeg(const uint8_t *data, size_t size, long long max_pixels, mg_image *out, char *message, size_t capacity) {
    struct jpeg_decompress_struct info;
    struct jpeg_failure failure;
    uint8_t *volatile pixels = NULL;
    uint8_t *volatile row = NULL;
    memset(out, 0, sizeof *out);
    info.err = jpeg_std_error(&failure.manager);
    failure.manager.error_exit = jpeg_fail;
    failure.manager.emit_message = jpeg_quiet;
    if (setjmp(failure.jump)) {
        copy_message(message, capacity, failure.text);
        jpeg_destroy_decompress(&info);
        free(pixels);
        free(row);
        return -1;
    }
    jpeg_create_decompress(&info);
    jpeg_mem_src(&info, data, (unsigned long)size);
    jpeg_read_header(&info, TRUE);
    long long count = (long long)info.image_width * (long long)info.image_height;
    if (info.image_width == 0 || info.image_height == 0 || count > max_pixels) {
        snprintf(message, capacity, "%ux%u pixels is more than the %lld allowed", info.image_width, info.image_height, max_pixels);
        jpeg_destroy_decompress(&info);
        return -1;
    }
    int cmyk = info.jpeg_color_space == JCS_CMYK || info.jpeg_color_space == JCS_YCCK;
    out->sourceChannels = info.num_components;
    out->sourceBits = info.data_precision;
    info.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
    jpeg_start_decompress(&info);
    int width = (int)info.output_width, height = (int)info.output_height;
    pixels = malloc((size_t)count * 3);
    row = malloc((size_t)width * 4);
    if (!pixels || !row) {
        copy_message(message, capacity, "out of memory");
        jpeg_destroy_decompress(&info);
        free(pixels);
        free(row);
        return -1;
    }
    while (info.output_scanline < info.output_height) {
        int y = (int)info.output_scanline;
        if (!cmyk) {
            JSAMPROW target = pixels + (size_t)y * width * 3;
            jpeg_read_scanlines(&info, &target, 1);
            continue;
        }
        JSAMPROW target = row;
        jpeg_read_scanlines(&info, &target, 1);
        uint8_t *rgb = pixels + (size_t)y * width * 3;
        for (int x = 0; x < width; x++) {
            /* OpenCV's icvCvt_CMYK2BGR_8u_C4C3R (Adobe's inverted CMYK) */
            int c = row[4 * x], m = row[4 * x + 1], yy = row[4 * x + 2], k = row[4 * x + 3];
            rgb[3 * x] = (uint8_t)(k - ((255 - c) * k >> 8));
            rgb[3 * x + 1] = (uint8_t)(k - ((255 - m) * k >> 8));
            rgb[3 * x + 2] = (uint8_t)(k - ((255 - yy) * k >> 8));
        }
    }
    jpeg_finish_decompress(&info);
    jpeg_destroy_decompress(&info);
    free(row);
    out->pixels = pixels;
    out->width = width;
    out->height = height;
    return 0;
}

int mg_encode_jpeg(const uint8_t *rgb, int width, int height, int quality, uint8_t **encoded, size_t *encoded_size, char *message, size_t capacity) {
    struct jpeg_compress_struct info;
    struct jpeg_failure failure;
    unsigned char *volatile buffer = NULL;
    unsigned long length = 0;
    info.err = jpeg_std_error(&failure.manager);
    failure.manager.error_exit = jpeg_fail;
    failure.manager.emit_message = jpeg_quiet;
    if (setjmp(failure.jump)) {
        copy_message(message, capacity, failure.text);
        jpeg_destroy_compress(&info);
        free(buffer);
        return -1;
    }
    jpeg_create_compress(&info);
    unsigned char *target = NULL;
    jpeg_mem_dest(&info, &target, &length);
    info.image_width = (JDIMENSION)width;
    info.image_height = (JDIMENSION)height;
    info.input_components = 3;
    info.in_color_space = JCS_RGB;
    jpeg_set_defaults(&info);
    jpeg_set_quality(&info, quality, TRUE);
    jpeg_start_compress(&info, TRUE);
    while (info.next_scanline < info.image_height) {
        JSAMPROW row = (JSAMPROW)(rgb + (size_t)info.next_scanline * width * 3);
        jpeg_write_scanlines(&info, &row, 1);
    }
    jpeg_finish_compress(&info);
    buffer = target;
    jpeg_destroy_compress(&info);
    *encoded = buffer;
    *encoded_size = length;
    return 0;
}

/* ----------------------------------------------------------------- PNG */

struct png_failure {
    jmp_buf jump;
    char text[256];
};

static void png_fail(png_structp png, png_const_charp text) {
    struct png_failure *failure = png_get_error_ptr(png);
    snprintf(failure->text, sizeof failure->text, "%s", text);
    longjmp(failure->jump, 1);
}

static void png_quiet(png_structp png, png_const_charp text) { (void)png; (void)text; }

struct png_source {
    const uint8_t *data;
    size_t size;
    size_t offset;
};

static void png_read_memory(png_structp png, png_bytep target, png_size_t length) {
    struct png_source *source = png_get_io_ptr(png);
    if (length > source->size - source->offset) png_error(png, "the file ends inside a chunk");
    memcpy(target, source->data + source->offset, length);
    source->offset += length;
}

int mg_decode_png(const uint8_t *data, size_t size, long long max_pixels, mg_image *out, char *message, size_t capacity) {
    struct png_failure failure;
    struct png_source source = {data, size, 0};
    uint8_t *volatile pixels = NULL;
    png_bytep *volatile rows = NULL;
    memset(out, 0, sizeof *out);
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &failure, png_fail, png_quiet);
    if (!png) { copy_message(message, capacity, "out of memory"); return -1; }
    png_infop info = png_create_info_struct(png);
    if (!info) { png_destroy_read_struct(&png, NULL, NULL); copy_message(message, capacity, "out of memory"); return -1; }
    if (setjmp(failure.jump)) {
        copy_message(message, capacity, failure.text);
        png_destroy_read_struct(&png, &info, NULL);
        free(pixels);
        free(rows);
        return -1;
    }
    png_set_read_fn(png, &source, png_read_memory);
    png_set_user_limits(png, 1u << 20, 1u << 20);
    png_set_chunk_malloc_max(png, 64u << 20);
    png_read_info(png, info);
    png_uint_32 width = png_get_image_width(png, info), height = png_get_image_height(png, info);
    int depth = png_get_bit_depth(png, info), type = png_get_color_type(png, info);
    long long count = (long long)width * (long long)height;
    if (count > max_pixels) {
        snprintf(message, capacity, "%ux%u pixels is more than the %lld allowed", width, height, max_pixels);
        png_destroy_read_struct(&png, &info, NULL);
        return -1;
    }
    out->sourceChannels = png_get_channels(png, info);
    out->sourceBits = depth;
    if (type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if ((type & PNG_COLOR_MASK_COLOR) == 0 && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (depth == 16) png_set_strip_16(png);
    png_set_strip_alpha(png);
    if (type == PNG_COLOR_TYPE_GRAY || type == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    if (png_get_rowbytes(png, info) != (size_t)width * 3) png_error(png, "unexpected row layout after conversion to RGB");
    pixels = malloc((size_t)count * 3);
    rows = malloc(sizeof(png_bytep) * height);
    if (!pixels || !rows) png_error(png, "out of memory");
    for (png_uint_32 y = 0; y < height; y++) rows[y] = pixels + (size_t)y * width * 3;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    png_destroy_read_struct(&png, &info, NULL);
    free(rows);
    out->pixels = pixels;
    out->width = (int)width;
    out->height = (int)height;
    return 0;
}

struct png_target {
    uint8_t *data;
    size_t size;
    size_t capacity;
};

static void png_write_memory(png_structp png, png_bytep bytes, png_size_t length) {
    struct png_target *target = png_get_io_ptr(png);
    if (target->size + length > target->capacity) {
        size_t grown = target->capacity ? target->capacity : 65536;
        while (grown < target->size + length) grown *= 2;
        uint8_t *data = realloc(target->data, grown);
        if (!data) png_error(png, "out of memory");
        target->data = data;
        target->capacity = grown;
    }
    memcpy(target->data + target->size, bytes, length);
    target->size += length;
}

static void png_flush_memory(png_structp png) { (void)png; }

int mg_encode_png(const uint8_t *rgb, int width, int height, uint8_t **encoded, size_t *encoded_size, char *message, size_t capacity) {
    struct png_failure failure;
    struct png_target target = {NULL, 0, 0};
    png_bytep *volatile rows = NULL;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &failure, png_fail, png_quiet);
    if (!png) { copy_message(message, capacity, "out of memory"); return -1; }
    png_infop info = png_create_info_struct(png);
    if (!info) { png_destroy_write_struct(&png, NULL); copy_message(message, capacity, "out of memory"); return -1; }
    if (setjmp(failure.jump)) {
        copy_message(message, capacity, failure.text);
        png_destroy_write_struct(&png, &info);
        free(target.data);
        free(rows);
        return -1;
    }
    png_set_write_fn(png, &target, png_write_memory, png_flush_memory);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_set_compression_level(png, 6);
    rows = malloc(sizeof(png_bytep) * (size_t)height);
    if (!rows) png_error(png, "out of memory");
    for (int y = 0; y < height; y++) rows[y] = (png_bytep)(rgb + (size_t)y * width * 3);
    png_set_rows(png, info, rows);
    png_write_png(png, info, PNG_TRANSFORM_IDENTITY, NULL);
    png_destroy_write_struct(&png, &info);
    free(rows);
    *encoded = target.data;
    *encoded_size = target.size;
    return 0;
}
