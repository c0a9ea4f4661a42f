import pytest
import torch

from models.classifier import RNNClassifier


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


def test_pretrained_embeddings_can_be_frozen():
    weights = torch.randn(10, 4)
    model = RNNClassifier(10, 2, embed_dim=4, hidden_size=3, embedding_weights=weights, freeze_embedding=True)
    assert torch.equal(model.embedding.weight, weights) and not model.embedding.weight.requires_grad
    tuned = RNNClassifier(10, 2, embed_dim=4, hidden_size=3, embedding_weights=weights)
    assert tuned.embedding.weight.requires_grad
    with pytest.raises(ValueError, match="expected"):
        RNNClassifier(10, 2, embed_dim=5, hidden_size=3, embedding_weights=weights)


def test_unknown_cell_or_pooling():
    with pytest.raises(ValueError, match="unknown cell"):
        RNNClassifier(10, 2, cell="transformer")
    with pytest.raises(ValueError, match="unknown pooling"):
        RNNClassifier(10, 2, pooling="attention")
