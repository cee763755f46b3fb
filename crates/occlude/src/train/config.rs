//! Run configuration: one TOML file describes a run completely (model, data,
//! augmentation, optimiser, schedule, seed, epochs, output directory). Command-line
//! flags override fields; the resolved configuration is saved next to the results.

use crate::data::DatasetSpec;
use crate::models::ModelConfig;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// A complete training run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// Free-form name shown in reports.
    #[serde(default = "default_name")]
    pub name: String,
    /// Seed of every random draw (initialisation, shuffling, crops, occlusions).
    #[serde(default)]
    pub seed: u64,
    pub epochs: usize,
    /// Where metrics, plots, checkpoints and the resolved config go. Relative paths
    /// are resolved against the directory of the config file.
    pub output_dir: PathBuf,
    pub data: DatasetSpec,
    pub model: ModelConfig,
    #[serde(default)]
    pub optimizer: OptimizerConfig,
    #[serde(default)]
    pub schedule: ScheduleConfig,
    #[serde(default)]
    pub augment: AugmentConfig,
    #[serde(default)]
    pub loader: LoaderSettings,
    #[serde(default)]
    pub train: TrainSettings,
    /// Semi-supervised training (UDA, seed 003 §4.3; [`super::semi::config`]); absent:
    /// supervised classification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub semi_supervised: Option<super::semi::SemiConfig>,
    /// Person re-identification instead of classification (see [`super::reid`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reid: Option<super::reid::ReidConfig>,
}

fn default_name() -> String {
    "run".into()
}

/// SGD with momentum, as every classification recipe in the seeds, or Adam
/// (`kind = "adam"`, the Bag-of-Tricks re-ID recipe).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptimizerConfig {
    /// `sgd` (default) or `adam`; left out of the saved config when `sgd`.
    #[serde(default, skip_serializing_if = "OptimizerKind::is_sgd")]
    pub kind: OptimizerKind,
    /// Adam's `(β₁, β₂)` (PyTorch's defaults 0.9, 0.999).
    #[serde(default = "default_betas", skip_serializing_if = "is_default_betas")]
    pub betas: [f64; 2],
    /// Adam's ε (1e-8).
    #[serde(default = "default_eps", skip_serializing_if = "is_default_eps")]
    pub eps: f64,
    /// Initial learning rate (seed 000 §4.1: 0.1 for ResNet50 at batch 256).
    #[serde(default = "default_lr")]
    pub lr: f64,
    #[serde(default = "default_momentum")]
    pub momentum: f64,
    #[serde(default)]
    pub nesterov: bool,
    #[serde(default = "default_weight_decay")]
    pub weight_decay: f64,
    /// Samples per mini-batch before joint training / batch augmentation multiply it.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
}

/// Which optimiser ([`super::optimizer`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OptimizerKind {
    #[default]
    Sgd,
    Adam,
}

impl OptimizerKind {
    fn is_sgd(&self) -> bool {
        *self == Self::Sgd
    }
}

fn default_betas() -> [f64; 2] {
    [0.9, 0.999]
}
fn is_default_betas(b: &[f64; 2]) -> bool {
    *b == default_betas()
}
fn default_eps() -> f64 {
    1e-8
}
fn is_default_eps(e: &f64) -> bool {
    *e == default_eps()
}

fn default_lr() -> f64 {
    0.1
}
fn default_momentum() -> f64 {
    0.9
}
fn default_weight_decay() -> f64 {
    5e-4
}
fn default_batch_size() -> usize {
    128
}

impl Default for OptimizerConfig {
    fn default() -> Self {
        Self {
            kind: OptimizerKind::Sgd,
            betas: default_betas(),
            eps: default_eps(),
            lr: default_lr(),
            momentum: default_momentum(),
            nesterov: false,
            weight_decay: default_weight_decay(),
            batch_size: default_batch_size(),
        }
    }
}

/// Learning-rate schedule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ScheduleConfig {
    /// Constant learning rate.
    Constant {
        #[serde(default)]
        warmup_epochs: f64,
    },
    /// Multiply by `gamma` at each milestone epoch (seed 000 §4.1: 30/60/90 × 0.1).
    Step {
        milestones: Vec<usize>,
        #[serde(default = "default_gamma")]
        gamma: f64,
        #[serde(default)]
        warmup_epochs: f64,
    },
    /// Cosine decay to 0 over the run, per step (seed 003 §4.1).
    Cosine {
        #[serde(default)]
        warmup_epochs: f64,
    },
}

fn default_gamma() -> f64 {
    0.1
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        Self::Cosine { warmup_epochs: 0.0 }
    }
}

/// How batches are augmented and assembled (seed 000 §3, §4.6).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AugmentConfig {
    /// Augmentation spec, e.g. `none`, `cutout:n=1,s=16`.
    #[serde(default = "default_method")]
    pub method: String,
    /// `standard`, `joint`, `batch` or `dataset`.
    #[serde(default = "default_paradigm")]
    pub paradigm: String,
    /// Copies per sample for batch / dataset augmentation (M).
    #[serde(default = "default_copies")]
    pub copies: usize,
    /// Probability that an image (copy) is left unoccluded.
    #[serde(default)]
    pub p_keep_image: f64,
}

fn default_method() -> String {
    "none".into()
}
fn default_paradigm() -> String {
    "standard".into()
}
fn default_copies() -> usize {
    2
}

impl Default for AugmentConfig {
    fn default() -> Self {
        Self { method: default_method(), paradigm: default_paradigm(), copies: default_copies(), p_keep_image: 0.0 }
    }
}

/// Data-loading threads.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoaderSettings {
    /// Worker threads; 0 picks the number of cores.
    #[serde(default)]
    pub workers: usize,
    /// Batches prepared ahead per worker.
    #[serde(default = "default_prefetch")]
    pub prefetch: usize,
    /// Evaluation batch size (0: the training batch size).
    #[serde(default)]
    pub eval_batch_size: usize,
}

fn default_prefetch() -> usize {
    2
}

impl Default for LoaderSettings {
    fn default() -> Self {
        Self { workers: 0, prefetch: default_prefetch(), eval_batch_size: 0 }
    }
}

/// Loss and bookkeeping.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainSettings {
    /// Label smoothing ε (seed 000 §4.5 baseline: 0.1).
    #[serde(default)]
    pub label_smoothing: f64,
    /// Weight of the early-exit head's loss (seed 003 §4: 0.3); used when the model
    /// has an early head.
    #[serde(default = "default_early_loss_weight")]
    pub early_loss_weight: f64,
    /// Also write a checkpoint every this many steps (0: only at epoch ends).
    #[serde(default)]
    pub checkpoint_every_steps: usize,
    /// Read the loss back from the device every this many steps (progress, NaN check).
    #[serde(default = "default_log_every")]
    pub log_every_steps: usize,
    /// Start from the weights (and batch-norm statistics) of another run's checkpoint,
    /// with a fresh optimiser and schedule: seed 000 §4.3's fine-tuning on full images
    /// of a network trained on occluded ones. The architecture must match tensor for
    /// tensor. Ignored when resuming (the run's own checkpoint has the weights).
    /// Relative paths are resolved against the config file's directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_from: Option<PathBuf>,
    /// After every epoch, also evaluate on this many *un-augmented* training images
    /// (evaluation preprocessing, a fixed subset; all of them if the split is smaller),
    /// recorded as `clean_train_loss` / `clean_train_top1` in `metrics.jsonl`: the
    /// training accuracy on clean data of seed 003 Fig. 2. 0 turns it off.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub clean_train_eval: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

fn default_early_loss_weight() -> f64 {
    0.3
}
fn default_log_every() -> usize {
    10
}

impl Default for TrainSettings {
    fn default() -> Self {
        Self {
            label_smoothing: 0.0,
            early_loss_weight: default_early_loss_weight(),
            checkpoint_every_steps: 0,
            log_every_steps: default_log_every(),
            init_from: None,
            clean_train_eval: 0,
        }
    }
}

fn check_range(field: &str, v: f64, lo: f64, hi: f64, what: &str) -> Result<()> {
    if !(v.is_finite() && v >= lo && v <= hi) {
        bail!("{field}: {v} is out of range; expected {what}");
    }
    Ok(())
}

impl RunConfig {
    /// Reads and validates a TOML file. Relative paths inside it (output directory,
    /// data path) are resolved against the file's directory.
    pub fn load(path: &Path) -> Result<Self> {
        let cfg = Self::parse_file(path)?;
        cfg.validate().with_context(|| format!("{}: invalid configuration", path.display()))?;
        Ok(cfg)
    }

    /// Reads a TOML file without validating values, so that command-line overrides
    /// can complete it first (e.g. `--data` providing `data.path`).
    pub fn parse_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let cfg: Self = toml::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{e}"))
            .with_context(|| format!("{}: invalid configuration", path.display()))?;
        Ok(cfg.resolve_paths(path.parent()))
    }

    /// Parses TOML text (errors point at the line and key), resolving relative paths
    /// against `base`.
    pub fn from_toml_str(text: &str, base: Option<&Path>) -> Result<Self> {
        let cfg: Self = toml::from_str(text).map_err(|e| anyhow::anyhow!("{e}"))?;
        cfg.resolved(base)
    }

    /// Builds a config from a TOML tree, resolving relative paths against `base`.
    pub fn from_value(value: toml::Value, base: Option<&Path>) -> Result<Self> {
        let cfg: Self = value.try_into().map_err(|e: toml::de::Error| anyhow::anyhow!("{}", e.message()))?;
        cfg.resolved(base)
    }

    fn resolved(self, base: Option<&Path>) -> Result<Self> {
        let cfg = self.resolve_paths(base);
        cfg.validate()?;
        Ok(cfg)
    }

    fn resolve_paths(mut self, base: Option<&Path>) -> Self {
        let cfg = &mut self;
        if let Some(base) = base.filter(|b| !b.as_os_str().is_empty()) {
            if cfg.output_dir.is_relative() {
                cfg.output_dir = base.join(&cfg.output_dir);
            }
            let backbone = cfg.reid.as_mut().map(|r| &mut r.backbone_from);
            for p in
                [Some(&mut cfg.data.path), Some(&mut cfg.train.init_from), backbone].into_iter().flatten().flatten()
            {
                if p.is_relative() {
                    *p = base.join(&*p);
                }
            }
        }
        self
    }

    /// Applies `key.path=value` overrides (values parsed as TOML, falling back to a
    /// string), then re-validates.
    pub fn with_overrides(&self, overrides: &[String]) -> Result<Self> {
        if overrides.is_empty() {
            return Ok(self.clone());
        }
        let mut tree = toml::Value::try_from(self)?;
        for o in overrides {
            let (key, raw) = o.split_once('=').with_context(|| format!("override {o:?}: expected key.path=value"))?;
            let value = parse_override_value(raw.trim());
            set_path(&mut tree, key.trim(), value).with_context(|| format!("override {o:?}"))?;
        }
        Self::from_value(tree, None)
    }

    /// Checks every field against its allowed range, naming the field on error.
    pub fn validate(&self) -> Result<()> {
        if self.epochs == 0 {
            bail!("epochs: must be at least 1");
        }
        let o = &self.optimizer;
        check_range("optimizer.lr", o.lr, 0.0, 100.0, "0 <= lr <= 100")?;
        if o.lr == 0.0 {
            bail!("optimizer.lr: must be > 0");
        }
        check_range("optimizer.momentum", o.momentum, 0.0, 0.999_999, "0 <= momentum < 1")?;
        check_range("optimizer.weight_decay", o.weight_decay, 0.0, 1.0, "0 <= weight_decay <= 1")?;
        if o.nesterov && o.momentum == 0.0 {
            bail!("optimizer.nesterov: needs momentum > 0");
        }
        for (i, b) in o.betas.iter().enumerate() {
            check_range(&format!("optimizer.betas[{i}]"), *b, 0.0, 0.999_999, "0 <= beta < 1")?;
        }
        check_range("optimizer.eps", o.eps, 1e-30, 1.0, "0 < eps <= 1")?;
        if o.kind == OptimizerKind::Adam && o.nesterov {
            bail!("optimizer.nesterov: Adam has no Nesterov variant here (optimizer.kind = \"adam\")");
        }
        if o.batch_size == 0 || o.batch_size > 1 << 16 {
            bail!("optimizer.batch_size: {} is out of range; expected 1..=65536", o.batch_size);
        }
        match &self.schedule {
            ScheduleConfig::Step { milestones, gamma, warmup_epochs } => {
                check_range("schedule.gamma", *gamma, 0.0, 1.0, "0 < gamma <= 1")?;
                if *gamma == 0.0 {
                    bail!("schedule.gamma: must be > 0");
                }
                if milestones.windows(2).any(|w| w[0] >= w[1]) {
                    bail!("schedule.milestones: must be strictly increasing, got {milestones:?}");
                }
                check_range("schedule.warmup_epochs", *warmup_epochs, 0.0, self.epochs as f64, "0..=epochs")?;
            }
            ScheduleConfig::Cosine { warmup_epochs } | ScheduleConfig::Constant { warmup_epochs } => {
                check_range("schedule.warmup_epochs", *warmup_epochs, 0.0, self.epochs as f64, "0..=epochs")?;
            }
        }
        let t = &self.train;
        check_range("train.label_smoothing", t.label_smoothing, 0.0, 0.999, "0 <= label_smoothing < 1")?;
        check_range("train.early_loss_weight", t.early_loss_weight, 0.0, 100.0, "0 <= early_loss_weight <= 100")?;
        if t.log_every_steps == 0 {
            bail!("train.log_every_steps: must be at least 1");
        }
        let a = &self.augment;
        check_range("augment.p_keep_image", a.p_keep_image, 0.0, 1.0, "0 <= p_keep_image <= 1")?;
        if a.copies == 0 || a.copies > 64 {
            bail!("augment.copies: {} is out of range; expected 1..=64", a.copies);
        }
        self.model.validate()?;
        self.data.validate()?;
        crate::augment::AugmentPlan::from_config(a).context("augment")?;
        if let Some(semi) = &self.semi_supervised {
            semi.validate(a)?;
        }
        if let Some(r) = &self.reid {
            r.validate(self)?;
        }
        if self.semi_supervised.is_some() && self.reid.is_some() {
            bail!("semi_supervised and reid: a run is one task; give one of the two sections");
        }
        Ok(())
    }

    pub fn to_toml(&self) -> Result<String> {
        Ok(toml::to_string_pretty(self)?)
    }
}

pub(crate) fn parse_override_value(raw: &str) -> toml::Value {
    toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()))
}

pub(crate) fn set_path(tree: &mut toml::Value, key: &str, value: toml::Value) -> Result<()> {
    let mut node = tree;
    let parts: Vec<&str> = key.split('.').collect();
    for (i, part) in parts.iter().enumerate() {
        let table = node.as_table_mut().with_context(|| format!("{} is not a section", parts[..i].join(".")))?;
        if i + 1 == parts.len() {
            table.insert(part.to_string(), value);
            return Ok(());
        }
        node = table.entry(part.to_string()).or_insert_with(|| toml::Value::Table(Default::default()));
    }
    unreachable!("split yields at least one part")
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
        epochs = 2
        output_dir = "out"
        [data]
        kind = "embedded"
        [model]
        arch = "resnet8"
    "#;

    fn parse(text: &str) -> Result<RunConfig> {
        RunConfig::from_toml_str(text, Some(Path::new("/cfg")))
    }

    #[test]
    fn minimal_config_gets_defaults_and_resolved_paths() {
        let c = parse(MINIMAL).unwrap();
        assert_eq!(c.output_dir, PathBuf::from("/cfg/out"));
        assert_eq!(c.optimizer.lr, 0.1);
        assert_eq!(c.schedule, ScheduleConfig::Cosine { warmup_epochs: 0.0 });
        assert_eq!(c.augment.method, "none");
        // Round trip through the saved form.
        let again = RunConfig::from_value(toml::from_str(&c.to_toml().unwrap()).unwrap(), None).unwrap();
        assert_eq!(again, c);
    }

    #[test]
    fn fine_tuning_and_clean_training_fields_resolve_and_stay_out_of_the_saved_form_when_unset() {
        // Unset, the saved config is what it was before these fields existed, so
        // earlier runs still resume (resuming compares the saved text).
        let text = parse(MINIMAL).unwrap().to_toml().unwrap();
        assert!(!text.contains("init_from") && !text.contains("clean_train_eval"), "{text}");
        let c = parse(&format!("{MINIMAL}\n[train]\ninit_from = \"a/checkpoint.safetensors\"\nclean_train_eval = 500"))
            .unwrap();
        assert_eq!(c.train.init_from, Some(PathBuf::from("/cfg/a/checkpoint.safetensors")));
        assert_eq!(c.train.clean_train_eval, 500);
    }

    #[test]
    fn invalid_values_name_the_field_and_range() {
        let cases = [
            ("optimizer.lr=-0.1", "optimizer.lr"),
            ("optimizer.batch_size=0", "optimizer.batch_size"),
            ("model.arch=\"vgg99\"", "model.arch"),
            ("epochs=0", "epochs"),
            ("train.label_smoothing=1.5", "train.label_smoothing"),
            ("augment.p_keep_image=2", "augment.p_keep_image"),
        ];
        let base = parse(MINIMAL).unwrap();
        for (o, field) in cases {
            let e = format!("{:#}", base.with_overrides(&[o.to_string()]).unwrap_err());
            assert!(e.contains(field), "{o}: {e}");
        }
    }

    #[test]
    fn unknown_keys_and_wrong_types_are_named() {
        let e = format!("{:#}", parse(&format!("{MINIMAL}\nepoch = 3")).unwrap_err());
        assert!(e.contains("epoch"), "{e}");
        let e = format!("{:#}", parse(&MINIMAL.replace("epochs = 2", "epochs = \"two\"")).unwrap_err());
        assert!(e.contains("epochs") || e.contains("integer"), "{e}");
        let e = format!("{:#}", parse(&format!("{MINIMAL}\n[optimizer]\nlearning_rate = 0.1")).unwrap_err());
        assert!(e.contains("learning_rate"), "{e}");
    }

    #[test]
    fn overrides_set_nested_fields() {
        let c = parse(MINIMAL)
            .unwrap()
            .with_overrides(&["optimizer.lr=0.05".into(), "schedule={kind=\"step\", milestones=[1]}".into()])
            .unwrap();
        assert_eq!(c.optimizer.lr, 0.05);
        assert_eq!(c.schedule, ScheduleConfig::Step { milestones: vec![1], gamma: 0.1, warmup_epochs: 0.0 });
    }
}
