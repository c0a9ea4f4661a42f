import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from models.classifier import RNNClassifier
from models.encoder import CELLS, RecurrentStack, reverse_within_lengths


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("pooling", ["last", "max", "mean"])
@pytest.mark.parametrize("bidirectional", [True, False])
def test_padding_never_changes_a_prediction(cell, pooling, bidirectional):
    torch.manual_seed(0)
    model = RNNClassifier(50, 3, cell=cell, embed_dim=8, hidden_size=6, num_layers=2, bidirectional=bidirectional, dropout=0.2, pooling=pooling).eval()
    sentence = torch.tensor([[5, 9, 13, 2]])
    alone = model(sentence, torch.tensor([4]))
    batch = torch.zeros((3, 11), dtype=torch.long)
    batch[0, :4] = sentence
    batch[1, :11] = torch.arange(3, 14)
    batch[2, :2] = torch.tensor([7, 8])
    together = model(batch, torch.tensor([4, 11, 2]))
    assert together.shape == (3, 3)
    assert torch.allclose(alone[0], together[0], atol=1e-5)


def test_reverse_within_lengths_keeps_padding_last_and_is_its_own_inverse():
    x = torch.arange(1, 9, dtype=torch.float).reshape(2, 4, 1)
    lengths = torch.tensor([4, 2])
    flipped = reverse_within_lengths(x, lengths)
    assert flipped[..., 0].tolist() == [[4, 3, 2, 1], [6, 5, 7, 8]]
    assert torch.equal(reverse_within_lengths(flipped, lengths), x)


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_recurrent_stack_equals_torch_bidirectional_rnn_on_packed_sequences(cell):
    torch.manual_seed(0)
    stack = RecurrentStack(cell, 5, 4, num_layers=2, bidirectional=True, dropout=0.0)
    reference = CELLS[cell](5, 4, num_layers=2, bidirectional=True, batch_first=True)
    with torch.no_grad():  # the reference's weights, layer by layer and direction by direction
        for layer in range(2):
            for direction, suffix in enumerate(("", "_reverse")):
                for name, param in stack.layers[layer][direction].named_parameters():
                    param.copy_(getattr(reference, name.replace("l0", f"l{layer}") + suffix))
    x, lengths = torch.randn(3, 7, 5), torch.tensor([7, 3, 1])
    expected, _ = pad_packed_sequence(reference(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))[0], batch_first=True)
    got = stack(x, lengths)
    for row, n in enumerate(lengths.tolist()):
        assert torch.allclose(got[row, :n], expected[row, :n], atol=1e-6)


def test_pretrained_embeddings_can_be_frozen():
    weights = torch.randn(10, 4)
    model = RNNClassifier(10, 2, embed_dim=4, hidden_size=3, embedding_weights=weights, freeze_embedding=True)
    assert torch.equal(model.encoder.embedding.weight, weights) and not model.encoder.embedding.weight.requires_grad
    tuned = RNNClassifier(10, 2, embed_dim=4, hidden_size=3, embedding_weights=weights)
    assert tuned.encoder.embedding.weight.requires_grad
    with pytest.raises(ValueError, match="expected"):
        RNNClassifier(10, 2, embed_dim=5, hidden_size=3, embedding_weights=weights)


def test_unknown_cell_or_pooling():
    with pytest.raises(ValueError, match="unknown cell"):
        RNNClassifier(10, 2, cell="transformer")
    with pytest.raises(ValueError, match="unknown pooling"):
        RNNClassifier(10, 2, pooling="attention")
