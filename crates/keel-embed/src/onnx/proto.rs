//! A protobuf writer for the part of ONNX's schema (`onnx.proto3`) that an encoder graph
//! needs: model, graph, node, attribute, tensor and value-info messages.
//!
//! Hand-written because the subset is a few dozen fields and only ever written: `prost`
//! would need the `.proto` files and a build script with `protoc`, and the `onnx-protobuf`
//! crates pull in the whole schema to use a tenth of it.

/// ONNX `TensorProto.DataType` values used here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ElemType {
    Float = 1,
    Int64 = 7,
}

/// One protobuf message being written, field by field, in field order of the caller.
#[derive(Debug, Default)]
pub(crate) struct Message(Vec<u8>);

const WIRE_VARINT: u32 = 0;
const WIRE_LEN: u32 = 2;
const WIRE_FIXED32: u32 = 5;

impl Message {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.0
    }

    fn varint(&mut self, mut value: u64) {
        while value >= 0x80 {
            self.0.push((value as u8) | 0x80);
            value >>= 7;
        }
        self.0.push(value as u8);
    }

    fn key(&mut self, field: u32, wire: u32) {
        self.varint(u64::from(field << 3 | wire));
    }

    /// An `int64` / `int32` / enum field (negative values take ten bytes, as protobuf says).
    pub(crate) fn int(&mut self, field: u32, value: i64) -> &mut Self {
        self.key(field, WIRE_VARINT);
        self.varint(value as u64);
        self
    }

    pub(crate) fn float(&mut self, field: u32, value: f32) -> &mut Self {
        self.key(field, WIRE_FIXED32);
        self.0.extend_from_slice(&value.to_le_bytes());
        self
    }

    pub(crate) fn bytes(&mut self, field: u32, value: &[u8]) -> &mut Self {
        self.key(field, WIRE_LEN);
        self.varint(value.len() as u64);
        self.0.extend_from_slice(value);
        self
    }

    pub(crate) fn string(&mut self, field: u32, value: &str) -> &mut Self {
        self.bytes(field, value.as_bytes())
    }

    pub(crate) fn message(&mut self, field: u32, value: &Message) -> &mut Self {
        self.bytes(field, &value.0)
    }

    /// A `repeated int64` field, packed (the proto3 default).
    pub(crate) fn packed_ints(&mut self, field: u32, values: &[i64]) -> &mut Self {
        let mut packed = Message::new();
        for &v in values {
            packed.varint(v as u64);
        }
        self.bytes(field, &packed.0)
    }
}

// Field numbers from onnx.proto3.
mod field {
    pub(super) const MODEL_IR_VERSION: u32 = 1;
    pub(super) const MODEL_PRODUCER_NAME: u32 = 2;
    pub(super) const MODEL_GRAPH: u32 = 7;
    pub(super) const MODEL_OPSET_IMPORT: u32 = 8;
    pub(super) const OPSET_VERSION: u32 = 2;
    pub(super) const GRAPH_NODE: u32 = 1;
    pub(super) const GRAPH_NAME: u32 = 2;
    pub(super) const GRAPH_INITIALIZER: u32 = 5;
    pub(super) const GRAPH_INPUT: u32 = 11;
    pub(super) const GRAPH_OUTPUT: u32 = 12;
    pub(super) const NODE_INPUT: u32 = 1;
    pub(super) const NODE_OUTPUT: u32 = 2;
    pub(super) const NODE_NAME: u32 = 3;
    pub(super) const NODE_OP_TYPE: u32 = 4;
    pub(super) const NODE_ATTRIBUTE: u32 = 5;
    pub(super) const ATTR_NAME: u32 = 1;
    pub(super) const ATTR_F: u32 = 2;
    pub(super) const ATTR_I: u32 = 3;
    pub(super) const ATTR_INTS: u32 = 8;
    pub(super) const ATTR_TYPE: u32 = 20;
    pub(super) const TENSOR_DIMS: u32 = 1;
    pub(super) const TENSOR_DATA_TYPE: u32 = 2;
    pub(super) const TENSOR_NAME: u32 = 8;
    pub(super) const TENSOR_RAW_DATA: u32 = 9;
    pub(super) const VALUE_NAME: u32 = 1;
    pub(super) const VALUE_TYPE: u32 = 2;
    pub(super) const TYPE_TENSOR: u32 = 1;
    pub(super) const TYPE_TENSOR_ELEM: u32 = 1;
    pub(super) const TYPE_TENSOR_SHAPE: u32 = 2;
    pub(super) const SHAPE_DIM: u32 = 1;
    pub(super) const DIM_VALUE: u32 = 1;
    pub(super) const DIM_PARAM: u32 = 2;
}

// AttributeProto.AttributeType values.
const ATTR_FLOAT: i64 = 1;
const ATTR_INT: i64 = 2;
const ATTR_INTS: i64 = 7;

/// A node attribute.
#[derive(Debug, Clone)]
pub(crate) enum Attr {
    Float(&'static str, f32),
    Int(&'static str, i64),
    Ints(&'static str, Vec<i64>),
}

impl Attr {
    fn encode(&self) -> Message {
        let mut m = Message::new();
        match self {
            Attr::Float(name, value) => {
                m.string(field::ATTR_NAME, name)
                    .float(field::ATTR_F, *value)
                    .int(field::ATTR_TYPE, ATTR_FLOAT);
            }
            Attr::Int(name, value) => {
                m.string(field::ATTR_NAME, name)
                    .int(field::ATTR_I, *value)
                    .int(field::ATTR_TYPE, ATTR_INT);
            }
            Attr::Ints(name, values) => {
                m.string(field::ATTR_NAME, name);
                // Repeated scalars in AttributeProto are written unpacked, as onnx does.
                for &v in values {
                    m.int(field::ATTR_INTS, v);
                }
                m.int(field::ATTR_TYPE, ATTR_INTS);
            }
        }
        m
    }
}

/// A dimension of a graph input or output: fixed or named (symbolic).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Dim {
    Fixed(i64),
    Named(&'static str),
}

/// `ValueInfoProto` of a tensor.
pub(crate) fn value_info(name: &str, elem: ElemType, dims: &[Dim]) -> Message {
    let mut shape = Message::new();
    for dim in dims {
        let mut d = Message::new();
        match dim {
            Dim::Fixed(v) => d.int(field::DIM_VALUE, *v),
            Dim::Named(n) => d.string(field::DIM_PARAM, n),
        };
        shape.message(field::SHAPE_DIM, &d);
    }
    let mut tensor = Message::new();
    tensor
        .int(field::TYPE_TENSOR_ELEM, elem as i64)
        .message(field::TYPE_TENSOR_SHAPE, &shape);
    let mut ty = Message::new();
    ty.message(field::TYPE_TENSOR, &tensor);
    let mut m = Message::new();
    m.string(field::VALUE_NAME, name)
        .message(field::VALUE_TYPE, &ty);
    m
}

/// `TensorProto` with its data as little-endian `raw_data`.
pub(crate) fn tensor(name: &str, elem: ElemType, dims: &[i64], raw_le: &[u8]) -> Message {
    let mut m = Message::new();
    m.packed_ints(field::TENSOR_DIMS, dims)
        .int(field::TENSOR_DATA_TYPE, elem as i64)
        .string(field::TENSOR_NAME, name)
        .bytes(field::TENSOR_RAW_DATA, raw_le);
    m
}

/// `NodeProto` in the default (ai.onnx) domain.
pub(crate) fn node(
    name: &str,
    op_type: &str,
    inputs: &[&str],
    outputs: &[&str],
    attrs: &[Attr],
) -> Message {
    let mut m = Message::new();
    for input in inputs {
        m.string(field::NODE_INPUT, input);
    }
    for output in outputs {
        m.string(field::NODE_OUTPUT, output);
    }
    m.string(field::NODE_NAME, name)
        .string(field::NODE_OP_TYPE, op_type);
    for attr in attrs {
        m.message(field::NODE_ATTRIBUTE, &attr.encode());
    }
    m
}

/// The parts of a `GraphProto`, each already encoded.
#[derive(Debug, Default)]
pub(crate) struct Graph {
    pub(crate) nodes: Vec<Message>,
    pub(crate) initializers: Vec<Message>,
    pub(crate) inputs: Vec<Message>,
    pub(crate) outputs: Vec<Message>,
}

/// Encodes a whole `ModelProto` importing one version of the default opset.
pub(crate) fn model(
    graph: &Graph,
    graph_name: &str,
    producer: &str,
    ir_version: i64,
    opset: i64,
) -> Vec<u8> {
    let mut g = Message::new();
    for n in &graph.nodes {
        g.message(field::GRAPH_NODE, n);
    }
    g.string(field::GRAPH_NAME, graph_name);
    for t in &graph.initializers {
        g.message(field::GRAPH_INITIALIZER, t);
    }
    for v in &graph.inputs {
        g.message(field::GRAPH_INPUT, v);
    }
    for v in &graph.outputs {
        g.message(field::GRAPH_OUTPUT, v);
    }
    let mut opset_id = Message::new();
    opset_id.int(field::OPSET_VERSION, opset);
    let mut m = Message::new();
    m.int(field::MODEL_IR_VERSION, ir_version)
        .string(field::MODEL_PRODUCER_NAME, producer)
        .message(field::MODEL_OPSET_IMPORT, &opset_id)
        .message(field::MODEL_GRAPH, &g);
    m.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_keys_follow_the_protobuf_encoding() {
        let mut m = Message::new();
        m.int(1, 300).int(2, -1).float(3, 1.0).string(4, "hi");
        let mut want = vec![0x08, 0xAC, 0x02, 0x10];
        want.extend([0xFF; 9]);
        want.push(0x01);
        want.extend([0x1D, 0x00, 0x00, 0x80, 0x3F, 0x22, 0x02, b'h', b'i']);
        assert_eq!(m.into_bytes(), want);
    }

    #[test]
    fn repeated_ints_are_packed_in_tensors_and_unpacked_in_attributes() {
        let t = tensor("s", ElemType::Int64, &[2], &[0; 16]).into_bytes();
        assert_eq!(&t[..4], [0x0A, 0x01, 0x02, 0x10]);
        let a = Attr::Ints("perm", vec![0, 2]).encode().into_bytes();
        let mut want = vec![0x0A, 0x04];
        want.extend(b"perm");
        want.extend([0x40, 0x00, 0x40, 0x02, 0xA0, 0x01, 0x07]);
        assert_eq!(a, want);
    }
}
