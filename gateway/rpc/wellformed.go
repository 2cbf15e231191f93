package rpc

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	_ "google.golang.org/grpc/encoding/proto" // registers the codec wrapped here
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// A request the server cannot decode — bytes that are not protobuf, or a
// string field that is not UTF-8 — is the client's mistake, but gRPC
// answers it Internal, before any interceptor runs. So the server decodes
// with decodeCodec, which never fails on a request: it leaves the message
// empty with a mark (an unknown field) saying which field was at fault, and
// the validation interceptor refuses the marked message as InvalidArgument.

// malformedField is the field number of the mark: the largest a field may
// have, used by no message of the coalition.
const malformedField protowire.Number = protowire.MaxValidNumber

// decodeCodec is gRPC's proto codec, except for requests it cannot decode.
type decodeCodec struct{ encoding.CodecV2 }

func newDecodeCodec() decodeCodec { return decodeCodec{encoding.GetCodecV2("proto")} }

func (c decodeCodec) Unmarshal(data mem.BufferSlice, v any) error {
	err := c.CodecV2.Unmarshal(data, v)
	m, ok := v.(proto.Message)
	if err == nil || !ok {
		return err
	}
	field, why := locate(data.Materialize(), m.ProtoReflect().Descriptor(), "", 0)
	if why == "" {
		why = "not a valid protobuf message: " + strings.TrimPrefix(err.Error(), "proto: ")
	}
	mark, merr := proto.Marshal(&errdetails.BadRequest_FieldViolation{Field: field, Description: why})
	if merr != nil {
		return err
	}
	proto.Reset(m)
	m.ProtoReflect().SetUnknown(protowire.AppendBytes(protowire.AppendTag(nil, malformedField, protowire.BytesType), mark))
	return nil
}

// malformed returns the InvalidArgument for a message decodeCodec marked,
// or nil.
func malformed(m proto.Message) error {
	b := m.ProtoReflect().GetUnknown()
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil
		}
		v := protowire.ConsumeFieldValue(num, typ, b[n:])
		if v < 0 {
			return nil
		}
		if num == malformedField && typ == protowire.BytesType {
			raw, _ := protowire.ConsumeBytes(b[n : n+v])
			var fv errdetails.BadRequest_FieldViolation
			if proto.Unmarshal(raw, &fv) != nil {
				fv = errdetails.BadRequest_FieldViolation{Description: "not a valid protobuf message"}
			}
			return invalid(&fv)
		}
		b = b[n+v:]
	}
	return nil
}

// locate walks the wire bytes of a message that failed to decode and
// returns the path of the first field whose bytes are wrong, and what is
// wrong; why is empty if the walk finds nothing (then the decoder's own
// error says it).
func locate(b []byte, md protoreflect.MessageDescriptor, path string, depth int) (field, why string) {
	if depth > 100 {
		return path, "nests too deeply"
	}
	seen := map[protowire.Number]int{}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return path, "not a valid protobuf message: " + protowire.ParseError(n).Error()
		}
		fd := md.Fields().ByNumber(num)
		fpath := path
		if fd != nil {
			fpath = joinPath(path, string(fd.Name()))
			if fd.IsList() {
				fpath += "[" + strconv.Itoa(seen[num]) + "]"
				seen[num]++
			}
		}
		v := protowire.ConsumeFieldValue(num, typ, b[n:])
		if v < 0 {
			return fpath, "not a valid protobuf value: " + protowire.ParseError(v).Error()
		}
		value := b[n : n+v]
		b = b[n+v:]
		if fd == nil || typ != protowire.BytesType {
			continue // unknown fields are kept; a mistyped one is unknown too
		}
		raw, _ := protowire.ConsumeBytes(value)
		switch fd.Kind() {
		case protoreflect.StringKind:
			if !utf8.Valid(raw) {
				return fpath, "must be valid UTF-8"
			}
		case protoreflect.MessageKind: // map entries too
			if f, why := locate(raw, fd.Message(), fpath, depth+1); why != "" {
				return f, why
			}
		}
	}
	return "", ""
}

func joinPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func invalid(fv *errdetails.BadRequest_FieldViolation) error {
	msg := "invalid request: " + fv.GetDescription()
	if fv.GetField() != "" {
		msg = "invalid request: " + fv.GetField() + ": " + fv.GetDescription()
	}
	st, err := status.New(codes.InvalidArgument, msg).WithDetails(&errdetails.BadRequest{
		FieldViolations: []*errdetails.BadRequest_FieldViolation{fv}})
	if err != nil {
		return status.Error(codes.InvalidArgument, msg)
	}
	return st.Err()
}

// Bounds of google.protobuf.Timestamp and Duration, as their definitions
// state them (timestamppb and durationpb CheckValid).
const (
	minTimestampSeconds = -62135596800 // 0001-01-01T00:00:00Z
	maxTimestampSeconds = 253402300799 // 9999-12-31T23:59:59Z
	maxDurationSeconds  = 315576000000 // 10,000 years
	nanosPerSecond      = 1_000_000_000
)

// wellFormed checks what holds for every request whatever its fields'
// own rules: strings are UTF-8 without NUL (which PostgreSQL cannot store
// in text), and timestamps and durations are within the ranges their
// definitions allow, with normalised nanoseconds. It returns the first
// fault, with the field's path, or nil.
func wellFormed(m protoreflect.Message, path string) *errdetails.BadRequest_FieldViolation {
	switch m.Descriptor().FullName() {
	case "google.protobuf.Timestamp":
		return timestampFault(m, path)
	case "google.protobuf.Duration":
		return durationFault(m, path)
	}
	var fault *errdetails.BadRequest_FieldViolation
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		p := joinPath(path, string(fd.Name()))
		switch {
		case fd.IsList():
			l := v.List()
			for i := range l.Len() {
				if fault = valueFault(fd, l.Get(i), p+"["+strconv.Itoa(i)+"]"); fault != nil {
					return false
				}
			}
		case fd.IsMap():
			v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				kp := p + "[" + strconv.Quote(k.String()) + "]"
				if fault = valueFault(fd.MapKey(), k.Value(), kp); fault == nil {
					fault = valueFault(fd.MapValue(), mv, kp)
				}
				return fault == nil
			})
		default:
			fault = valueFault(fd, v, p)
		}
		return fault == nil
	})
	return fault
}

func valueFault(fd protoreflect.FieldDescriptor, v protoreflect.Value, path string) *errdetails.BadRequest_FieldViolation {
	switch fd.Kind() {
	case protoreflect.StringKind:
		s := v.String()
		if !utf8.ValidString(s) {
			return &errdetails.BadRequest_FieldViolation{Field: path, Description: "must be valid UTF-8", Reason: "string.utf8"}
		}
		if strings.IndexByte(s, 0) >= 0 {
			return &errdetails.BadRequest_FieldViolation{Field: path, Description: "must not contain NUL characters", Reason: "string.no_nul"}
		}
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return wellFormed(v.Message(), path)
	}
	return nil
}

func secondsNanos(m protoreflect.Message) (int64, int64) {
	f := m.Descriptor().Fields()
	return m.Get(f.ByName("seconds")).Int(), m.Get(f.ByName("nanos")).Int()
}

func timestampFault(m protoreflect.Message, path string) *errdetails.BadRequest_FieldViolation {
	s, n := secondsNanos(m)
	if s < minTimestampSeconds || s > maxTimestampSeconds || n < 0 || n >= nanosPerSecond {
		return &errdetails.BadRequest_FieldViolation{Field: path, Reason: "timestamp.valid", Description: fmt.Sprintf(
			"must be a timestamp from 0001-01-01 to 9999-12-31 UTC with nanos in [0, 999999999], got seconds %d, nanos %d", s, n)}
	}
	return nil
}

func durationFault(m protoreflect.Message, path string) *errdetails.BadRequest_FieldViolation {
	s, n := secondsNanos(m)
	if s < -maxDurationSeconds || s > maxDurationSeconds || n <= -nanosPerSecond || n >= nanosPerSecond ||
		(s > 0 && n < 0) || (s < 0 && n > 0) {
		return &errdetails.BadRequest_FieldViolation{Field: path, Reason: "duration.valid", Description: fmt.Sprintf(
			"must be a normalised duration (seconds within ±10,000 years, nanos within ±999999999 and of the same sign), got seconds %d, nanos %d", s, n)}
	}
	return nil
}
