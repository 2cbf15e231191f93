package pkpass

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"maps"
)

// storeCardImages are the image files Apple allows on a store card
// (thumbnail and background belong to other pass styles).
var storeCardImages = map[string]bool{
	"icon.png": true, "icon@2x.png": true, "icon@3x.png": true,
	"logo.png": true, "logo@2x.png": true, "logo@3x.png": true,
	"strip.png": true, "strip@2x.png": true, "strip@3x.png": true,
}

// images returns the pass's image files: those given, checked, or else
// generated ones, so that a partner without artwork still gets a pass Wallet
// accepts (it refuses any pass without icon.png).
func images(p Pass) (map[string][]byte, error) {
	if p.Images != nil {
		if _, ok := p.Images["icon.png"]; !ok {
			return nil, invalid("images", "icon.png is required")
		}
		for name, data := range p.Images {
			if !storeCardImages[name] {
				return nil, invalid("images", "%q is not a store card image", name)
			}
			if _, err := png.DecodeConfig(bytes.NewReader(data)); err != nil {
				return nil, invalid("images", "%s is not a PNG: %v", name, err)
			}
		}
		return maps.Clone(p.Images), nil
	}
	fg, bg := rgba(p.Foreground), rgba(p.Background)
	files := make(map[string][]byte, 3)
	for _, img := range []struct {
		name    string
		w, h    int
		dot, bg color.RGBA
	}{
		// Sizes from Apple's image guidelines, in points at 1x and 2x.
		{"icon.png", 29, 29, fg, bg},
		{"icon@2x.png", 58, 58, fg, bg},
		{"logo.png", 50, 50, fg, color.RGBA{}}, // a mark beside logoText
	} {
		data, err := disc(img.w, img.h, img.dot, img.bg)
		if err != nil {
			return nil, fmt.Errorf("pkpass: generate %s: %w", img.name, err)
		}
		files[img.name] = data
	}
	return files, nil
}

func rgba(c RGB) color.RGBA { return color.RGBA{c.R, c.G, c.B, 0xff} }

// disc draws a filled circle of colour dot on a field of colour bg.
func disc(w, h int, dot, bg color.RGBA) ([]byte, error) {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	cx, cy := float64(w)/2, float64(h)/2
	r := 0.35 * float64(min(w, h))
	for y := range h {
		for x := range w {
			dx, dy := float64(x)+0.5-cx, float64(y)+0.5-cy
			if dx*dx+dy*dy <= r*r {
				img.SetRGBA(x, y, dot)
			} else {
				img.SetRGBA(x, y, bg)
			}
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
