# A function-level extension, created in the function's own file as the reference's docs show.
import azure.functions as func
from shared_code.extensions import StampExtension

stamp = StampExtension(__file__)


def main(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("stamped")
