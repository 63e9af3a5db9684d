from edge_msa.models.base import INPUT_NAMES, OUTPUT_NAMES, MSAModel
from edge_msa.models.registry import create_model, list_models, register_model

__all__ = ["INPUT_NAMES", "OUTPUT_NAMES", "MSAModel", "create_model", "list_models", "register_model"]
