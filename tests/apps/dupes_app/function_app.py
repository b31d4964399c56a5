from extkit.app import FunctionApp

app = FunctionApp()


@app.function_name("FIRST")
@app.route(route="unique")
def first_again(req: object) -> str:
    return "a second function named first"
