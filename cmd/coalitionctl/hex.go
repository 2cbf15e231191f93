package main

import (
	"encoding/hex"
	"errors"
)

func decodeHex(s string) ([]byte, error) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) < 32 {
		return nil, errors.New("--phone-hash-key must be at least 32 bytes, hex-encoded")
	}
	return b, nil
}
