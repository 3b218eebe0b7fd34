//! Bandwidth classes: named upload/download capacities, mapped to [`sim_core::LinkCapacity`].
//!
//! # Built-in classes and where the numbers come from
//!
//! | class        | download | upload  | source |
//! |--------------|---------:|--------:|--------|
//! | `datacenter` | 1000     | 1000    | the common 1 Gbit/s port of rented servers (an assumption, not a measurement) |
//! | `home-fibre` | 270      | 124     | Ookla Speedtest Intelligence, Q1 2024: median fixed broadband in the U.A.E., a fibre-dominated market, 270.91 / 124.37 Mbit/s (rounded down) |
//! | `home`       | 100      | 12      | download: Speedtest Global Index, July 2021, global median fixed broadband 107.50 Mbit/s (rounded); upload: Ookla's Q2 2020 U.S. market report, median fixed upload 11.86 Mbit/s (cable and DSL are asymmetric) |
//! | `mobile`     | 55       | 6       | download: Speedtest Global Index, July 2021, global median mobile 55.07 Mbit/s; upload: Ookla's Q2 2020 U.S. market report, median mobile upload 5.74 Mbit/s |
//!
//! All in Mbit/s (10^6 bit/s). The medians are of speed tests, i.e. of what a subscriber can
//! reach, not of what a node may spend on the network; a scenario that wants a node to use only
//! part of its link should define its own class.
//!
//! # CPU slowdown
//!
//! A class also sets `cpu_slowdown` (default 1): the multiplier the engine applies to every
//! compute job of its nodes (`sim_core::Engine::set_cpu_slowdown`), e.g. 2 for a machine half
//! as fast as the one the costs (`[relay] message_handling_us`, `validation_delay_us`) were
//! measured on. The built-in classes keep 1: no measurement ties CPU speed to link speed.
//!
//! # Default mix
//!
//! Groups that name no class get `datacenter` 0.5, `home-fibre` 0.2, `home` 0.3, `mobile` 0:
//! an assumption that relay operators mostly rent servers (nwaku's operator guides target
//! servers) and the rest run at home; mobile nodes appear only where a scenario puts them
//! (light clients). Scenarios set their own with `bandwidth.default_mix`.

use serde::{Deserialize, Serialize};
use sim_core::LinkCapacity;

use crate::attrs::Mix;
use crate::error::{Result, TopologyError};

/// Upper bound of a class's capacity, in Mbit/s (1 Tbit/s): a typo guard.
pub const MAX_MBPS: f64 = 1_000_000.0;

/// A named link class.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BandwidthClass {
    /// The name groups use (`datacenter`, `home`, …).
    pub name: String,
    /// Upload capacity in Mbit/s (10^6 bit/s), positive.
    pub upload_mbps: f64,
    /// Download capacity in Mbit/s, positive.
    pub download_mbps: f64,
    /// Multiplier on the CPU time of every compute job of the class's nodes (message
    /// handling, validation): 2 = a machine half as fast. Default 1; in (0, 1000].
    #[serde(default = "one")]
    pub cpu_slowdown: f64,
}

fn one() -> f64 {
    1.0
}

impl BandwidthClass {
    fn new(name: &str, download_mbps: f64, upload_mbps: f64) -> Self {
        BandwidthClass {
            name: name.to_owned(),
            upload_mbps,
            download_mbps,
            cpu_slowdown: 1.0,
        }
    }

    /// Checks the capacities; errors name `field`.
    pub fn validate(&self, field: &str) -> Result<()> {
        if self.name.trim().is_empty() {
            return Err(TopologyError::invalid(
                format!("{field}.name"),
                "\"\"",
                "a class needs a name",
            ));
        }
        for (f, v) in [
            ("upload_mbps", self.upload_mbps),
            ("download_mbps", self.download_mbps),
        ] {
            if !(v.is_finite() && v > 0.0 && v <= MAX_MBPS) {
                return Err(TopologyError::invalid(
                    format!("{field}.{f}"),
                    v,
                    format!("must be a positive number of Mbit/s, at most {MAX_MBPS}"),
                ));
            }
            // Below 1 bit/s the engine would see a zero capacity.
            if v * 1e6 < 1.0 {
                return Err(TopologyError::invalid(
                    format!("{field}.{f}"),
                    v,
                    "must be at least 0.000001 Mbit/s (1 bit/s)",
                ));
            }
        }
        self.validate_cpu(field)
    }

    /// Checks the CPU slowdown; errors name `field`.
    fn validate_cpu(&self, field: &str) -> Result<()> {
        let v = self.cpu_slowdown;
        if !(v.is_finite() && v > 0.0 && v <= sim_core::MAX_CPU_SLOWDOWN) {
            return Err(TopologyError::invalid(
                format!("{field}.cpu_slowdown"),
                v,
                format!(
                    "must be a multiplier of CPU time in (0, {}] (1 = as measured)",
                    sim_core::MAX_CPU_SLOWDOWN
                ),
            ));
        }
        Ok(())
    }

    /// The capacity in bits per second (Mbit/s x 10^6, rounded).
    pub fn capacity(&self) -> LinkCapacity {
        LinkCapacity {
            upload_bps: (self.upload_mbps * 1e6).round() as u64,
            download_bps: (self.download_mbps * 1e6).round() as u64,
        }
    }
}

/// A class's index in a [`BandwidthClasses`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ClassId(pub u16);

/// The set of classes of a network: the built-in ones, plus or redefined by a scenario.
#[derive(Clone, Debug, PartialEq)]
pub struct BandwidthClasses {
    classes: Vec<BandwidthClass>,
}

impl BandwidthClasses {
    /// The built-in classes (see the [module docs](self)).
    pub fn builtin() -> Self {
        BandwidthClasses {
            classes: vec![
                BandwidthClass::new("datacenter", 1000.0, 1000.0),
                BandwidthClass::new("home-fibre", 270.0, 124.0),
                BandwidthClass::new("home", 100.0, 12.0),
                BandwidthClass::new("mobile", 55.0, 6.0),
            ],
        }
    }

    /// The built-in classes with `extra` added; a class with a built-in name replaces it.
    pub fn with(extra: &[BandwidthClass]) -> Result<Self> {
        let mut set = Self::builtin();
        for (i, c) in extra.iter().enumerate() {
            c.validate(&format!("classes[{i}]"))?;
            if extra[..i].iter().any(|d| d.name == c.name) {
                return Err(TopologyError::invalid(
                    format!("classes[{i}].name"),
                    &c.name,
                    "defined twice; give each class once",
                ));
            }
            match set.classes.iter_mut().find(|d| d.name == c.name) {
                Some(d) => *d = c.clone(),
                None => set.classes.push(c.clone()),
            }
        }
        if set.classes.len() > usize::from(u16::MAX) {
            return Err(TopologyError::invalid(
                "classes",
                extra.len(),
                "too many classes",
            ));
        }
        Ok(set)
    }

    /// The class names, in id order.
    pub fn names(&self) -> Vec<String> {
        self.classes.iter().map(|c| c.name.clone()).collect()
    }

    /// The class with this id.
    pub fn get(&self, id: ClassId) -> &BandwidthClass {
        &self.classes[id.0 as usize]
    }

    /// The id of a class name, if defined.
    pub fn id(&self, name: &str) -> Option<ClassId> {
        self.classes
            .iter()
            .position(|c| c.name == name)
            .map(|i| ClassId(i as u16))
    }

    /// Number of classes.
    pub fn len(&self) -> usize {
        self.classes.len()
    }

    /// True when there are no classes (never: the built-in ones are always there).
    pub fn is_empty(&self) -> bool {
        self.classes.is_empty()
    }

    /// The capacity of a class.
    pub fn capacity(&self, id: ClassId) -> LinkCapacity {
        self.get(id).capacity()
    }
}

/// The built-in default mix (see the [module docs](self)), as (class, weight).
pub fn builtin_default_mix() -> Vec<(&'static str, f64)> {
    vec![("datacenter", 0.5), ("home-fibre", 0.2), ("home", 0.3)]
}

/// The links of the network.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BandwidthSpec {
    /// Classes to add to the built-in ones (`datacenter`, `home-fibre`, `home`, `mobile`), or
    /// to redefine them by name. Default: none.
    pub classes: Vec<BandwidthClass>,
    /// The class name or weights for groups that name none. Default: `datacenter` 0.5,
    /// `home-fibre` 0.2, `home` 0.3 (an assumption; see the crate's bandwidth docs).
    pub default_mix: Option<Mix>,
}

impl BandwidthSpec {
    /// The classes of the network.
    pub fn classes(&self) -> Result<BandwidthClasses> {
        BandwidthClasses::with(&self.classes)
    }

    /// The default mix as weights aligned with `classes`' ids.
    pub fn default_weights(&self, classes: &BandwidthClasses) -> Result<Vec<f64>> {
        match &self.default_mix {
            Some(m) => m.dense("default_mix", &classes.names(), "bandwidth class"),
            None => {
                let mut dense = vec![0.0; classes.len()];
                for (name, w) in builtin_default_mix() {
                    let id = classes.id(name).expect("built-in class");
                    dense[id.0 as usize] = w;
                }
                Ok(dense)
            }
        }
    }

    /// Checks the classes and the default mix.
    pub fn validate(&self) -> Result<()> {
        let classes = self.classes()?;
        self.default_weights(&classes)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_map_to_bits_per_second() {
        let c = BandwidthClasses::builtin();
        let home = c.capacity(c.id("home").unwrap());
        assert_eq!(home.download_bps, 100_000_000);
        assert_eq!(home.upload_bps, 12_000_000);
        assert_eq!(
            c.capacity(c.id("datacenter").unwrap()),
            LinkCapacity::symmetric_mbps(1000)
        );
    }

    #[test]
    fn scenario_classes_add_and_replace() {
        let c = BandwidthClasses::with(&[
            BandwidthClass::new("home", 50.0, 5.0),
            BandwidthClass::new("satellite", 100.0, 10.0),
        ])
        .unwrap();
        assert_eq!(c.len(), 5);
        assert_eq!(c.capacity(c.id("home").unwrap()).upload_bps, 5_000_000);
        assert!(c.id("satellite").is_some());
        let bad = BandwidthClasses::with(&[BandwidthClass::new("x", 0.0, 1.0)]).unwrap_err();
        assert!(
            matches!(bad, TopologyError::InvalidParameter { ref field, .. } if field == "classes[0].download_mbps"),
            "{bad}"
        );
    }

    #[test]
    fn default_mix_is_the_documented_one() {
        let c = BandwidthClasses::builtin();
        let w = BandwidthSpec::default().default_weights(&c).unwrap();
        assert_eq!(w, vec![0.5, 0.2, 0.3, 0.0]);
        let unknown = BandwidthSpec {
            default_mix: Some(Mix::One("fibre".into())),
            ..BandwidthSpec::default()
        };
        assert!(matches!(
            unknown.validate(),
            Err(TopologyError::UnknownName { .. })
        ));
    }
}
