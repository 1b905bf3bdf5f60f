//! Results depend on the seed, not on the number of threads: a forward and
//! backward pass large enough to take every parallel path (row-split and
//! column-split GEMMs, chunked elementwise loops, row-parallel RMSNorm and
//! cross-entropy) gives bitwise-identical values and gradients in a rayon pool
//! of 1 thread and one of 3.

mod common;

use common::{rng, uniform};
use rnnpy_core::engine::{Tape, Tensor};

struct Run {
    values: Vec<Tensor>,
    params: Vec<Option<Tensor>>,
    input: Tensor,
}

/// `x [512, 256]` through a matmul chain, RMSNorm, SwiGLU, a few-row product
/// (a recurrent step: the GEMM splits columns there) and the losses.
fn run(params: &[Tensor], x: &Tensor, targets: &[usize]) -> Run {
    let mut t = Tape::new(params);
    let xv = t.input(x.clone());
    let (w1, g, w2, w3, bias) = (t.param(0), t.param(1), t.param(2), t.param(3), t.param(4));
    let h = t.matmul(xv, w1); // [512, 256]
    let n = t.rmsnorm(h, g);
    let a = t.swiglu(n, h);
    let logits = t.matmul(a, w2); // [512, 256]
    let logits = t.add_row(logits, bias);
    let ce = t.cross_entropy(logits, targets.to_vec());
    let step = t.slice_rows(n, 8, 8); // [8, 256]
    let z = t.matmul(step, w3); // [8, 512]
    let z = t.tanh(z);
    let zm = t.mean_all(z);
    let loss = t.add(ce, zm);
    let values = [h, n, logits, z, loss].iter().map(|&v| t.value(v).clone()).collect();
    let grads = t.backward(loss);
    let input = grads.input(xv).expect("the input gets a gradient").clone();
    Run { values, params: grads.params, input }
}

fn bits(t: &Tensor) -> Vec<u32> {
    t.data.iter().map(|v| v.to_bits()).collect()
}

#[test]
fn forward_and_backward_do_not_depend_on_the_thread_count() {
    let mut r = rng(7);
    let (m, d) = (512, 256);
    let params = vec![
        uniform(&mut r, d, d, -0.1, 0.1),
        uniform(&mut r, 1, d, 0.5, 1.5),
        uniform(&mut r, d, d, -0.1, 0.1),
        uniform(&mut r, d, 2 * d, -0.1, 0.1),
        uniform(&mut r, 1, d, -0.1, 0.1),
    ];
    let x = uniform(&mut r, m, d, -1.0, 1.0);
    let targets: Vec<usize> = (0..m).map(|i| (i * 37) % d).collect();
    let pool = |n: usize| rayon::ThreadPoolBuilder::new().num_threads(n).build().unwrap();
    let one = pool(1).install(|| run(&params, &x, &targets));
    let three = pool(3).install(|| run(&params, &x, &targets));
    for (i, (a, b)) in one.values.iter().zip(&three.values).enumerate() {
        assert!(bits(a) == bits(b), "value {i} differs between 1 and 3 threads");
    }
    for (i, (a, b)) in one.params.iter().zip(&three.params).enumerate() {
        let (a, b) = (a.as_ref().expect("every parameter is used"), b.as_ref().unwrap());
        assert!(bits(a) == bits(b), "gradient of parameter {i} differs between 1 and 3 threads");
    }
    assert!(bits(&one.input) == bits(&three.input), "input gradient differs between 1 and 3 threads");
    assert!(one.values[4].data[0].is_finite());
}
