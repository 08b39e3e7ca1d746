//! The fp32 ONNX graph of the BERT encoder, written from `model.safetensors` and
//! `config.json`: the same weights and arithmetic as candle's `BertModel`, in standard
//! opset-17 operators that ONNX Runtime's optimizer fuses into its own kernels.
//!
//! Inputs `input_ids` and `attention_mask` (`int64 [batch, sequence]`), output
//! `last_hidden_state` (`float [batch, sequence, hidden]`); token types are all 0, as
//! keel's single-text inputs are. Pooling stays outside the graph, shared with candle.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use serde::Deserialize;

use super::proto::{self, Attr, Dim, ElemType};
use crate::error::EmbedError;
use crate::pipeline::read_json;

/// ONNX opset imported: 17 is the first with `LayerNormalization`.
const OPSET: i64 = 17;
/// The IR version that opset 17 came with.
const IR_VERSION: i64 = 8;
/// What attention adds to padded positions before softmax (transformers uses the
/// float minimum too): their weights become exactly 0.
const MASKED_SCORE: f32 = f32::MIN;

pub(crate) const INPUT_IDS: &str = "input_ids";
pub(crate) const ATTENTION_MASK: &str = "attention_mask";
pub(crate) const LAST_HIDDEN_STATE: &str = "last_hidden_state";

/// The BERT settings the graph depends on.
#[derive(Debug, Deserialize)]
struct BertConfig {
    hidden_size: usize,
    num_attention_heads: usize,
    num_hidden_layers: usize,
    intermediate_size: usize,
    layer_norm_eps: f64,
    #[serde(default = "default_hidden_act")]
    hidden_act: String,
    #[serde(default = "default_position_type")]
    position_embedding_type: String,
}

fn default_hidden_act() -> String {
    "gelu".to_owned()
}

fn default_position_type() -> String {
    "absolute".to_owned()
}

/// Writes the encoder graph of the model described by `config` and `weights` to `out` (not atomically: callers
/// write into a staging location and rename).
pub(crate) fn write_graph(config: &Path, weights: &Path, out: &Path) -> Result<u64, EmbedError> {
    let bytes = encode_graph(config, weights)?;
    std::fs::write(out, &bytes).map_err(|source| EmbedError::Io {
        action: "write",
        path: out.to_path_buf(),
        source,
    })?;
    Ok(bytes.len() as u64)
}

/// Encodes the graph as a serialized `ModelProto`.
pub(crate) fn encode_graph(config: &Path, weights: &Path) -> Result<Vec<u8>, EmbedError> {
    let config: BertConfig = read_json(config)?;
    check(&config)?;
    let buffer = std::fs::read(weights).map_err(|source| EmbedError::Io {
        action: "read",
        path: weights.to_path_buf(),
        source,
    })?;
    let tensors = candle_core::safetensors::load_buffer(&buffer, &Device::Cpu)?;
    let weights = Weights::new(tensors);
    let mut builder = Builder::default();
    bert(&mut builder, &config, &weights)?;
    Ok(proto::model(
        &builder.graph,
        "bert_encoder",
        "keel-embed",
        IR_VERSION,
        OPSET,
    ))
}

fn check(config: &BertConfig) -> Result<(), EmbedError> {
    let unsupported = |reason: String| Err(EmbedError::Unsupported { reason });
    if config.hidden_act != "gelu" {
        return unsupported(format!(
            "hidden_act {:?} (only exact gelu)",
            config.hidden_act
        ));
    }
    if config.position_embedding_type != "absolute" {
        return unsupported(format!(
            "position_embedding_type {:?}",
            config.position_embedding_type
        ));
    }
    if config.num_attention_heads == 0
        || !config
            .hidden_size
            .is_multiple_of(config.num_attention_heads)
    {
        return unsupported(format!(
            "hidden_size {} not divisible into {} heads",
            config.hidden_size, config.num_attention_heads
        ));
    }
    Ok(())
}

/// The checkpoint's tensors, found with or without a `bert.` prefix.
struct Weights {
    tensors: HashMap<String, Tensor>,
    prefix: &'static str,
}

impl Weights {
    fn new(tensors: HashMap<String, Tensor>) -> Self {
        let prefix = if tensors.contains_key("embeddings.word_embeddings.weight") {
            ""
        } else {
            "bert."
        };
        Self { tensors, prefix }
    }

    /// The first dimension of tensor `name` (0 when absent; `get` then names it).
    fn rows(&self, name: &str) -> usize {
        self.tensors
            .get(&format!("{}{name}", self.prefix))
            .and_then(|t| t.dims().first().copied())
            .unwrap_or(0)
    }

    /// The tensor `name` as f32, checked against the expected shape.
    fn get(&self, name: &str, shape: &[usize]) -> Result<Tensor, EmbedError> {
        let full = format!("{}{name}", self.prefix);
        let tensor = self
            .tensors
            .get(&full)
            .ok_or_else(|| EmbedError::Unsupported {
                reason: format!("weights have no tensor {full}"),
            })?;
        if tensor.dims() != shape {
            return Err(EmbedError::Unsupported {
                reason: format!("{full} has shape {:?}, expected {shape:?}", tensor.dims()),
            });
        }
        Ok(tensor.to_dtype(DType::F32)?)
    }
}

fn le_bytes(values: impl IntoIterator<Item = f32>) -> Vec<u8> {
    values.into_iter().flat_map(f32::to_le_bytes).collect()
}

/// Collects nodes and initializers under generated, unique names.
#[derive(Default)]
struct Builder {
    graph: proto::Graph,
    nodes: usize,
}

impl Builder {
    /// Adds a float initializer holding `tensor` as it is.
    fn weight(&mut self, name: &str, tensor: &Tensor) -> Result<String, EmbedError> {
        let dims: Vec<i64> = tensor.dims().iter().map(|&d| d as i64).collect();
        let data = tensor.flatten_all()?.to_vec1::<f32>()?;
        self.graph
            .initializers
            .push(proto::tensor(name, ElemType::Float, &dims, &le_bytes(data)));
        Ok(name.to_owned())
    }

    fn scalar(&mut self, name: &str, value: f32) -> String {
        self.graph.initializers.push(proto::tensor(
            name,
            ElemType::Float,
            &[],
            &value.to_le_bytes(),
        ));
        name.to_owned()
    }

    fn ints(&mut self, name: &str, values: &[i64]) -> String {
        let raw: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.graph.initializers.push(proto::tensor(
            name,
            ElemType::Int64,
            &[values.len() as i64],
            &raw,
        ));
        name.to_owned()
    }

    /// Adds a one-output node and returns its output's name.
    fn op(&mut self, op_type: &str, inputs: &[&str], attrs: &[Attr]) -> String {
        self.nodes += 1;
        let name = format!("{op_type}_{}", self.nodes);
        let output = format!("{name}_out");
        self.graph
            .nodes
            .push(proto::node(&name, op_type, inputs, &[&output], attrs));
        output
    }

    /// `x · Wᵀ + b` for a torch `Linear` weight `[out, in]` (stored transposed, `[in, out]`,
    /// as `MatMul` wants it).
    fn linear(
        &mut self,
        x: &str,
        weights: &Weights,
        prefix: &str,
        shape: [usize; 2],
    ) -> Result<String, EmbedError> {
        let [out, _] = shape;
        let w = weights
            .get(&format!("{prefix}.weight"), &shape)?
            .t()?
            .contiguous()?;
        let w = self.weight(&format!("{prefix}.weight_t"), &w)?;
        let b = weights.get(&format!("{prefix}.bias"), &[out])?;
        let b = self.weight(&format!("{prefix}.bias"), &b)?;
        let product = self.op("MatMul", &[x, &w], &[]);
        Ok(self.op("Add", &[&product, &b], &[]))
    }

    fn layer_norm(
        &mut self,
        x: &str,
        weights: &Weights,
        prefix: &str,
        hidden: usize,
        eps: f32,
    ) -> Result<String, EmbedError> {
        let gamma = weights.get(&format!("{prefix}.weight"), &[hidden])?;
        let gamma = self.weight(&format!("{prefix}.weight"), &gamma)?;
        let beta = weights.get(&format!("{prefix}.bias"), &[hidden])?;
        let beta = self.weight(&format!("{prefix}.bias"), &beta)?;
        Ok(self.op(
            "LayerNormalization",
            &[x, &gamma, &beta],
            &[Attr::Int("axis", -1), Attr::Float("epsilon", eps)],
        ))
    }
}

fn bert(b: &mut Builder, config: &BertConfig, weights: &Weights) -> Result<(), EmbedError> {
    let hidden = config.hidden_size;
    let heads = config.num_attention_heads;
    let head_size = hidden / heads;
    let eps = config.layer_norm_eps as f32;
    let batch_seq = [Dim::Named("batch"), Dim::Named("sequence")];
    b.graph
        .inputs
        .push(proto::value_info(INPUT_IDS, ElemType::Int64, &batch_seq));
    b.graph.inputs.push(proto::value_info(
        ATTENTION_MASK,
        ElemType::Int64,
        &batch_seq,
    ));

    // Embeddings: word + position (0..sequence) + token type 0, then LayerNorm.
    let vocab = weights.rows("embeddings.word_embeddings.weight");
    let words = weights.get("embeddings.word_embeddings.weight", &[vocab, hidden])?;
    let words = b.weight("embeddings.word_embeddings.weight", &words)?;
    let positions_len = weights.rows("embeddings.position_embeddings.weight");
    let positions = weights.get(
        "embeddings.position_embeddings.weight",
        &[positions_len, hidden],
    )?;
    let positions = b.weight("embeddings.position_embeddings.weight", &positions)?;
    let types = weights.get("embeddings.token_type_embeddings.weight", &[2, hidden])?;
    let type_zero = b.weight("embeddings.token_type_embeddings.row0", &types.get(0)?)?;

    let word_vectors = b.op("Gather", &[&words, INPUT_IDS], &[Attr::Int("axis", 0)]);
    let seq_len = b.op(
        "Shape",
        &[INPUT_IDS],
        &[Attr::Int("start", 1), Attr::Int("end", 2)],
    );
    let zero = b.ints("const.zero", &[0]);
    let position_vectors = b.op("Slice", &[&positions, &zero, &seq_len, &zero], &[]);
    let sum = b.op("Add", &[&word_vectors, &position_vectors], &[]);
    let sum = b.op("Add", &[&sum, &type_zero], &[]);
    let mut x = b.layer_norm(&sum, weights, "embeddings.LayerNorm", hidden, eps)?;

    // Additive attention mask [batch, 1, 1, sequence]: 0 for tokens, MASKED_SCORE for padding.
    let mask = b.op(
        "Cast",
        &[ATTENTION_MASK],
        &[Attr::Int("to", ElemType::Float as i64)],
    );
    let axes = b.ints("const.mask_axes", &[1, 2]);
    let mask = b.op("Unsqueeze", &[&mask, &axes], &[]);
    let one = b.scalar("const.one", 1.0);
    let inverted = b.op("Sub", &[&one, &mask], &[]);
    let masked = b.scalar("const.masked_score", MASKED_SCORE);
    let additive_mask = b.op("Mul", &[&inverted, &masked], &[]);

    let split_heads = b.ints("const.split_heads", &[0, 0, heads as i64, head_size as i64]);
    let merge_heads = b.ints("const.merge_heads", &[0, 0, hidden as i64]);
    let scale = b.scalar("const.sqrt_head_size", (head_size as f32).sqrt());
    let sqrt2 = b.scalar("const.sqrt2", std::f32::consts::SQRT_2);
    let half = b.scalar("const.half", 0.5);

    for layer in 0..config.num_hidden_layers {
        let p = format!("encoder.layer.{layer}");
        let project = |b: &mut Builder, which: &str, perm: [i64; 4]| {
            let y = b.linear(
                &x,
                weights,
                &format!("{p}.attention.self.{which}"),
                [hidden, hidden],
            )?;
            let y = b.op("Reshape", &[&y, &split_heads], &[]);
            Ok::<_, EmbedError>(b.op("Transpose", &[&y], &[Attr::Ints("perm", perm.to_vec())]))
        };
        let q = project(b, "query", [0, 2, 1, 3])?;
        let k = project(b, "key", [0, 2, 3, 1])?;
        let v = project(b, "value", [0, 2, 1, 3])?;
        let scores = b.op("MatMul", &[&q, &k], &[]);
        let scores = b.op("Div", &[&scores, &scale], &[]);
        let scores = b.op("Add", &[&scores, &additive_mask], &[]);
        let probs = b.op("Softmax", &[&scores], &[Attr::Int("axis", -1)]);
        let context = b.op("MatMul", &[&probs, &v], &[]);
        let context = b.op(
            "Transpose",
            &[&context],
            &[Attr::Ints("perm", vec![0, 2, 1, 3])],
        );
        let context = b.op("Reshape", &[&context, &merge_heads], &[]);
        let attended = b.linear(
            &context,
            weights,
            &format!("{p}.attention.output.dense"),
            [hidden, hidden],
        )?;
        let residual = b.op("Add", &[&attended, &x], &[]);
        x = b.layer_norm(
            &residual,
            weights,
            &format!("{p}.attention.output.LayerNorm"),
            hidden,
            eps,
        )?;

        let inner = config.intermediate_size;
        let h = b.linear(
            &x,
            weights,
            &format!("{p}.intermediate.dense"),
            [inner, hidden],
        )?;
        // Exact GELU: h · ½ (1 + erf(h / √2)), in the order ORT's Gelu fusion matches.
        let scaled = b.op("Div", &[&h, &sqrt2], &[]);
        let erf = b.op("Erf", &[&scaled], &[]);
        let erf = b.op("Add", &[&erf, &one], &[]);
        let gated = b.op("Mul", &[&h, &erf], &[]);
        let gelu = b.op("Mul", &[&gated, &half], &[]);
        let out = b.linear(
            &gelu,
            weights,
            &format!("{p}.output.dense"),
            [hidden, inner],
        )?;
        let residual = b.op("Add", &[&out, &x], &[]);
        x = b.layer_norm(
            &residual,
            weights,
            &format!("{p}.output.LayerNorm"),
            hidden,
            eps,
        )?;
    }

    b.graph.nodes.push(proto::node(
        "output",
        "Identity",
        &[&x],
        &[LAST_HIDDEN_STATE],
        &[],
    ));
    b.graph.outputs.push(proto::value_info(
        LAST_HIDDEN_STATE,
        ElemType::Float,
        &[
            Dim::Named("batch"),
            Dim::Named("sequence"),
            Dim::Fixed(hidden as i64),
        ],
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn architectures_the_graph_does_not_implement_are_named() {
        for (act, positions, heads, named) in [
            ("relu", "absolute", 12, "relu"),
            ("gelu", "relative_key", 12, "relative_key"),
            ("gelu", "absolute", 5, "5 heads"),
        ] {
            let tmp = tempfile::tempdir().unwrap();
            let config = tmp.path().join("config.json");
            let json = format!(
                r#"{{"hidden_size": 384, "num_attention_heads": {heads}, "num_hidden_layers": 6,
                    "intermediate_size": 1536, "layer_norm_eps": 1e-12,
                    "hidden_act": "{act}", "position_embedding_type": "{positions}"}}"#
            );
            std::fs::write(&config, json).unwrap();
            let err = encode_graph(&config, &tmp.path().join("absent")).unwrap_err();
            assert!(
                matches!(&err, EmbedError::Unsupported { reason } if reason.contains(named)),
                "{err}"
            );
        }
    }
}
