// Edits of grey images for the local-feature and robust-fingerprint tests: what a reposter does to a photo
// (crop, shrink into a screenshot, rotate), made on the decoder's luma image so tests need no image files.
#pragma once

#include <string>

#include "hashing/image_decoder.h"

namespace hashbank::testing {

// The luma image of a file under tests/data (PrepareImage, long side at most `long_side`); empty (0 x 0) if
// the file does not decode.
GreyImage LoadGrey(const std::string& relative, int long_side = 512);

// A width x height image of one value.
GreyImage FlatGrey(int width, int height, uint8_t value);

// The part [x0, x0 + width) x [y0, y0 + height).
GreyImage CropGrey(const GreyImage& image, int x0, int y0, int width, int height);

// Half the size (floor), each pixel the rounded mean of a 2 x 2 block.
GreyImage HalveGrey(const GreyImage& image);

// Twice the size, each pixel repeated 2 x 2.
GreyImage DoubleGrey(const GreyImage& image);

// `content` drawn onto `canvas` with its top-left corner at (x, y) (clipped to the canvas).
GreyImage PasteGrey(GreyImage canvas, const GreyImage& content, int x, int y);

// Rotated by `degrees` about the centre, same size: output pixel q samples the input at R(-degrees)(q - c) + c
// (bilinear; 0 outside). In image coordinates (y down) a positive angle turns the x axis towards +y, so a
// point p of the input lands at R(degrees)(p - c) + c.
GreyImage RotateGrey(const GreyImage& image, double degrees);

// A lossless grey PNG of the image.
std::vector<uint8_t> GreyPng(const GreyImage& image);

}  // namespace hashbank::testing
