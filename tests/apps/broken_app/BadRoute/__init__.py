def main(req):
    return "x"
