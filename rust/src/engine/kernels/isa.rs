//! Which instruction set the hand-written kernels use: detected once at run
//! time (AVX-512, AVX2 + FMA, or portable code), overridable with
//! `RNNPY_ISA=generic|avx2|avx512` (capped at what the CPU has) so that every
//! path can be tested and timed on one machine.
//!
//! Every path computes each output element with the same operations in the
//! same order (fused multiply-adds over k, fixed 16-lane partial sums), so
//! results are bit-identical whichever path runs.

use std::sync::atomic::{AtomicU8, Ordering};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Isa {
    Generic = 0,
    Avx2 = 1,
    Avx512 = 2,
}

const UNSET: u8 = u8::MAX;
static CURRENT: AtomicU8 = AtomicU8::new(UNSET);

impl Isa {
    pub fn name(self) -> &'static str {
        match self {
            Isa::Generic => "generic",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
        }
    }

    fn from_u8(v: u8) -> Isa {
        match v {
            2 => Isa::Avx512,
            1 => Isa::Avx2,
            _ => Isa::Generic,
        }
    }
}

/// The best instruction set this CPU supports.
pub fn best() -> Isa {
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("fma") {
            return Isa::Avx512;
        }
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            return Isa::Avx2;
        }
    }
    Isa::Generic
}

/// The instruction set in use (detected on first call, or as `RNNPY_ISA` asks).
#[inline]
pub fn current() -> Isa {
    let v = CURRENT.load(Ordering::Relaxed);
    if v != UNSET {
        return Isa::from_u8(v);
    }
    let wanted = match std::env::var("RNNPY_ISA").as_deref() {
        Ok("generic") => Isa::Generic,
        Ok("avx2") => Isa::Avx2,
        _ => Isa::Avx512,
    };
    set(wanted)
}

/// Uses `isa`, or the best supported one below it; returns the one in use.
pub fn set(isa: Isa) -> Isa {
    let chosen = isa.min(best());
    CURRENT.store(chosen as u8, Ordering::Relaxed);
    chosen
}

/// Every instruction set this CPU can run, lowest first.
pub fn supported() -> Vec<Isa> {
    [Isa::Generic, Isa::Avx2, Isa::Avx512].into_iter().filter(|&i| i <= best()).collect()
}

/// Defines `fn name(args)` whose body is compiled once per instruction set
/// (with that set's target features, so loops over `vmath` functions are
/// vectorised for it) and dispatched on [`current`].
#[macro_export]
macro_rules! multiversion {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident : $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$meta])*
        #[allow(clippy::too_many_arguments)]
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            #[allow(clippy::too_many_arguments)]
            fn body($($arg: $ty),*) $(-> $ret)? $body
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")]
            #[allow(clippy::too_many_arguments)]
            unsafe fn avx512($($arg: $ty),*) $(-> $ret)? { body($($arg),*) }
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2,fma")]
            #[allow(clippy::too_many_arguments)]
            unsafe fn avx2($($arg: $ty),*) $(-> $ret)? { body($($arg),*) }
            match $crate::engine::kernels::isa::current() {
                // SAFETY: `current()` only reports instruction sets the CPU has.
                #[cfg(target_arch = "x86_64")]
                $crate::engine::kernels::isa::Isa::Avx512 => unsafe { avx512($($arg),*) },
                #[cfg(target_arch = "x86_64")]
                $crate::engine::kernels::isa::Isa::Avx2 => unsafe { avx2($($arg),*) },
                _ => body($($arg),*),
            }
        }
    };
}
