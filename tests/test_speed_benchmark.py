"""benchmarks/speed.py on a few steps: which rows it times and that its table is written."""
from benchmarks import speed


def test_the_speed_benchmark_times_the_loop_default_first_and_each_ablation_at_its_dispatch(
    data_dir, tmp_path):
  args = speed.parse_args(['--models=gan', '--repeats=1', '--steps=gan=20', '--no_torch_compile',
                           '--ablation_models=gan', f'--data_dir={data_dir}',
                           f'--out={tmp_path / "speed"}'])
  args.torch_device = 'cpu'   # what main() resolves '' to without a GPU
  result = speed.bench_model(speed.MODELS['gan'], data_dir, args, log=lambda message: None)
  names = list(result['variants'])
  # The MLP GAN's step has no convolutions, so the loop scans 20 steps per dispatch on CPU;
  # the 20/dispatch row would repeat it and is left out.
  assert names == ['jax (loop default: 20/dispatch)', 'jax (1/dispatch)', 'jax: guard off',
                   'jax: one fixed batch', 'jax: bare step, fixed batch',
                   "jax: optax.adam's arithmetic", 'torch eager'], names
  for name in names:
    variant = result['variants'][name]
    assert variant['median_steps_per_s'] > 0 and variant['median_ratio_to_torch_eager'] > 0, name
  report = {'machine': dict(speed.machine_info(), torch_device='cpu'), 'command': 'test',
            'speed': [result], 'end_to_end': []}
  table = speed.markdown(report)
  assert '| gan | jax (loop default: 20/dispatch) |' in table and '| gan | torch eager |' in table
