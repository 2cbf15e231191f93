package rpc

import (
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
