# A function that raises, with a function-level extension whose pre hook raises too.
import azure.functions as func
from shared_code.extensions import BrokenExtension

BrokenExtension(__file__)


def main(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("the function failed on purpose")
