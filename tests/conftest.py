"""Suite-wide test settings."""
import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    """The tests' runs are tiny: one intra-op thread is as fast on an idle machine and far
    faster on a busy one, where several threads fight over two cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
